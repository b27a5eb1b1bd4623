"""GET /api/v1/pipeline: how the processors keep up (lag per partition from their heartbeats, the
verdict the operator's guards use) and the dead letters they set aside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from logsentinel.api.deps import Database, Principal, allow
from logsentinel.api.responses import AUTHENTICATED
from logsentinel.domain.playbook import Guards
from logsentinel.storage.health import (
    DEFAULT_STALE_AFTER,
    DeadLetterInfo,
    assess,
    dead_letter_summary,
    heartbeats,
)

router = APIRouter(prefix="/api/v1", tags=["pipeline"], responses=AUTHENTICATED)
DEFAULT_MAX_LAG: timedelta = Guards.model_fields["max_pipeline_lag"].default
DEAD_LETTER_WINDOW = timedelta(hours=1)


class PartitionStatus(BaseModel):
    consumer: str
    topic: str
    partition: int
    lag_records: int
    lag_seconds: float
    heartbeat_age_seconds: float


class DeadLetters(BaseModel):
    total: int
    last_hour: int
    latest: list[DeadLetterInfo]


class PipelineReport(BaseModel):
    healthy: bool = Field(description="What a playbook's pipeline guard would decide now.")
    reason: str
    max_lag_seconds: float
    max_lag_records: int
    bound_seconds: float = Field(description="The lag bound the verdict used.")
    partitions: list[PartitionStatus]
    dead_letters: DeadLetters


@router.get("/pipeline", response_model=PipelineReport)
def pipeline(
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
    max_lag: Annotated[
        float,
        Query(
            gt=0,
            le=86_400,
            description="Lag bound in seconds (default: a playbook's default maxPipelineLag).",
        ),
    ] = DEFAULT_MAX_LAG.total_seconds(),
    latest: Annotated[int, Query(ge=0, le=100, description="Newest dead letters listed.")] = 10,
) -> PipelineReport:
    """The processors' lag per partition and the verdict on it; dead letters stored in all, in
    the last hour, and the newest ones (reason, detail and Kafka position; never the payload)."""
    beats = heartbeats(connection)
    bound = timedelta(seconds=max_lag)
    verdict = assess(beats, bound, DEFAULT_STALE_AFTER)
    letters = dead_letter_summary(connection, datetime.now(UTC) - DEAD_LETTER_WINDOW, latest)
    return PipelineReport(
        healthy=verdict.healthy,
        reason=verdict.reason,
        max_lag_seconds=verdict.max_lag_seconds,
        max_lag_records=verdict.max_lag_records,
        bound_seconds=bound.total_seconds(),
        partitions=[
            PartitionStatus(
                consumer=b.consumer,
                topic=b.topic,
                partition=b.partition,
                lag_records=b.lag_records,
                lag_seconds=b.lag_seconds,
                heartbeat_age_seconds=b.age_seconds,
            )
            for b in beats
        ],
        dead_letters=DeadLetters(
            total=letters.total, last_hour=letters.since_count, latest=letters.latest
        ),
    )
