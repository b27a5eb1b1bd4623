"""Incident: a rule that fired against a workload, its evidence, and what was done about it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from logsentinel.domain.base import SchemaModel, field_error
from logsentinel.domain.common import Condition, Severity, WorkloadRef
from logsentinel.domain.logrecord import Level
from logsentinel.domain.playbook import StepType
from logsentinel.domain.types import Identifier, ObjectName, ShortText

APPROVED_ANNOTATION = "logsentinel.io/approved"
INCIDENT_LABEL = "logsentinel.io/incident"
"""On objects made for an incident (a runJob step's Job): the Incident's name."""
"""kubectl annotate incident X logsentinel.io/approved=true lets a pending remediation run."""

MAX_SAMPLES = 20


class IncidentPhase(StrEnum):
    OPEN = "Open"
    AWAITING_APPROVAL = "AwaitingApproval"
    REMEDIATING = "Remediating"
    MITIGATED = "Mitigated"
    RESOLVED = "Resolved"
    ESCALATED = "Escalated"


FINAL_PHASES = frozenset({IncidentPhase.RESOLVED, IncidentPhase.ESCALATED})
"""Phases an incident never leaves."""


class EvidenceSample(SchemaModel):
    """One log line that made the rule fire, trimmed for display."""

    timestamp: AwareDatetime
    level: Level = Level.UNKNOWN
    pod: Annotated[str, StringConstraints(max_length=253)] = ""
    message: Annotated[str, StringConstraints(max_length=2048)]


class OffsetRange(SchemaModel):
    """The Kafka records behind the evidence, to replay or inspect them."""

    topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    partition: Annotated[int, Field(ge=0)]
    first_offset: Annotated[int, Field(ge=0)]
    last_offset: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last_offset < self.first_offset:
            raise field_error("lastOffset", "must not be smaller than firstOffset")
        return self


class WindowStatistics(SchemaModel):
    """The numbers the detector decided on."""

    start: AwareDatetime
    end: AwareDatetime
    statistic: Identifier = Field(description="What value measures: count, ratio, zscore, p99...")
    value: float
    threshold: float
    matched: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=0)] | None = None


class Evidence(SchemaModel):
    samples: list[EvidenceSample] = Field(default_factory=list, max_length=MAX_SAMPLES)
    template_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    offsets: list[OffsetRange] = Field(default_factory=list, max_length=100)
    window: WindowStatistics | None = None


Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]


class IncidentSpec(SchemaModel):
    """The facts of an incident, written by the processors that detected it."""

    rule: ObjectName
    incident_type: Identifier
    severity: Severity
    fingerprint: Fingerprint = Field(description="Hash of rule and target; one open incident each.")
    service: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    target: WorkloadRef | None = Field(
        default=None, description="Resolved from pod owner references; absent if none was found."
    )
    summary: ShortText = ""
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    occurrences: Annotated[int, Field(ge=1)] = 1
    evidence: Evidence = Field(default_factory=Evidence)

    @model_validator(mode="after")
    def _seen_in_order(self) -> Self:
        if self.last_seen < self.first_seen:
            raise field_error("lastSeen", "must not be earlier than firstSeen")
        return self


class ActionResult(StrEnum):
    PENDING = "Pending"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DRY_RUN = "DryRun"
    REFUSED = "Refused"
    SKIPPED = "Skipped"


class ActionRecord(SchemaModel):
    """One step of a playbook run against this incident: the audit trail in the object itself."""

    playbook: ObjectName
    step: Identifier
    type: StepType
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    result: ActionResult = ActionResult.PENDING
    message: ShortText = ""
    dry_run: bool = False
    guard: Identifier | None = Field(default=None, description="The guard that refused the step.")


class IncidentStatus(SchemaModel):
    """What happened to the incident after it opened."""

    phase: IncidentPhase = IncidentPhase.OPEN
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    playbook: ObjectName | None = None
    actions: list[ActionRecord] = Field(default_factory=list, max_length=200)
    acknowledged_by: Annotated[str, StringConstraints(max_length=253)] | None = None
    acknowledged_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    resolution: ShortText = ""


__all__ = [
    "APPROVED_ANNOTATION",
    "FINAL_PHASES",
    "INCIDENT_LABEL",
    "ActionRecord",
    "ActionResult",
    "Evidence",
    "EvidenceSample",
    "IncidentPhase",
    "IncidentSpec",
    "IncidentStatus",
    "OffsetRange",
    "WindowStatistics",
]
