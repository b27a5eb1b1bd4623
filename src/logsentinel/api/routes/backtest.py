"""POST /api/v1/rules/backtest: the incidents a rule would have opened over stored logs.

The rule is sent as its manifest (the same document `kubectl apply` takes) and is replayed over
the stored records of the range exactly as the processors would run it (see logsentinel.backtest);
nothing is stored or created. Operators and admins only: a long range reads many records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from logsentinel.api.deps import Database, Principal, allow
from logsentinel.api.responses import AUTHENTICATED, BAD_BODY
from logsentinel.backtest import backtest, result_document
from logsentinel.domain.resources import DetectionRule

router = APIRouter(prefix="/api/v1", tags=["rules and playbooks"], responses=AUTHENTICATED)
MAX_RANGE = timedelta(days=7)


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rule: DetectionRule = Field(description="A DetectionRule manifest.")
    since: AwareDatetime = Field(alias="from", description="Start of the range.")
    until: AwareDatetime | None = Field(
        default=None, alias="to", description="End of the range (default: now)."
    )


class BacktestIncident(BaseModel):
    rule: str
    namespace: str
    service: str
    groupKey: dict[str, str]  # noqa: N815 (the wire name)
    firstSeen: datetime  # noqa: N815
    lastSeen: datetime  # noqa: N815
    occurrences: int
    summary: str
    resolvedAt: datetime | None  # noqa: N815
    evidence: dict[str, Any]


class BacktestResponse(BaseModel):
    since: datetime
    until: datetime
    records: int = Field(description="Stored records read (those the rule can see).")
    seconds: float
    refused: dict[str, str] = Field(description="The rule, if it cannot run, and why.")
    incidents: list[BacktestIncident]


@router.post(
    "/rules/backtest",
    response_model=BacktestResponse,
    responses=BAD_BODY,
)
def backtest_rule(
    request: BacktestRequest,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> dict[str, Any]:
    """Replay the rule over the stored logs of [from, to) and list the incidents it would have
    opened, with their evidence. The range may span at most 7 days."""
    until = request.until or datetime.now(UTC)
    if request.since >= until:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "from: must be before to")
    if until - request.since > MAX_RANGE:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"from/to: the range may span at most {MAX_RANGE.days} days",
        )
    return result_document(backtest(connection, [request.rule], request.since, until))
