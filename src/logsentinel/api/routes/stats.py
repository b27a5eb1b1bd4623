"""GET /api/v1/stats: volume and error rate per service per interval, and the top templates;
GET /api/v1/stats/incidents: open incidents counted by severity and phase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from logsentinel.api.deps import Database, Principal, allow
from logsentinel.api.responses import AUTHENTICATED, errors
from logsentinel.domain.common import Severity
from logsentinel.domain.incident import IncidentPhase
from logsentinel.domain.types import StorableText
from logsentinel.storage.incidents import open_counts
from logsentinel.storage.search import top_templates, volume

router = APIRouter(prefix="/api/v1", tags=["stats"], responses=AUTHENTICATED)
DEFAULT_RANGE = timedelta(hours=1)
MAX_POINTS = 2000


class Point(BaseModel):
    service: str
    start: datetime
    total: int
    errors: int
    error_rate: float


class Template(BaseModel):
    template_id: str
    count: int
    example: str


class Stats(BaseModel):
    since: datetime
    until: datetime
    interval_seconds: int
    series: list[Point]
    top_templates: list[Template]


@router.get("/stats", response_model=Stats, responses=errors(400))
def stats(
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    interval: Annotated[int, Query(ge=1, le=86_400, description="Seconds per point.")] = 60,
    service: Annotated[list[StorableText] | None, Query(max_length=50)] = None,
    top: Annotated[int, Query(ge=0, le=100)] = 10,
) -> Stats:
    """Per service and interval: lines, error lines (error and fatal) and their ratio; and the
    most frequent templates. Defaults to the last hour."""
    end = until or datetime.now(UTC)
    try:
        start = since or end - DEFAULT_RANGE
    except OverflowError:  # until is within an hour of year 1
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "since: required when until is this early"
        ) from None
    if start >= end:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "since: must be before until")
    if (end - start).total_seconds() / interval > MAX_POINTS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"interval: {interval} s gives more than {MAX_POINTS} points per service",
        )
    services = service or ()
    series = [
        Point(
            service=v.service,
            start=v.start,
            total=v.total,
            errors=v.errors,
            error_rate=v.errors / v.total if v.total else 0.0,
        )
        for v in volume(connection, start, end, interval, services)
    ]
    templates = (
        [
            Template(template_id=t.template_id, count=t.count, example=t.example)
            for t in top_templates(connection, start, end, top, services)
        ]
        if top
        else []
    )
    return Stats(
        since=start, until=end, interval_seconds=interval, series=series, top_templates=templates
    )


class IncidentCounts(BaseModel):
    open: int
    by_severity: dict[Severity, int] = Field(description="Every severity, zeros included.")
    by_phase: dict[IncidentPhase, int] = Field(description="Open phases only, zeros included.")


@router.get("/stats/incidents", response_model=IncidentCounts)
def incident_counts(
    connection: Database, who: Annotated[Principal, Depends(allow("viewer"))]
) -> IncidentCounts:
    """Open incidents (not resolved) counted by severity and by phase."""
    by_severity: dict[Severity, int] = dict.fromkeys(Severity, 0)
    by_phase: dict[IncidentPhase, int] = {
        phase: 0 for phase in IncidentPhase if phase is not IncidentPhase.RESOLVED
    }
    for severity, phase, count in open_counts(connection):
        by_severity[Severity(severity)] += count
        by_phase[IncidentPhase(phase)] = by_phase.get(IncidentPhase(phase), 0) + count
    return IncidentCounts(
        open=sum(by_severity.values()), by_severity=by_severity, by_phase=by_phase
    )
