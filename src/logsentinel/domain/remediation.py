"""The progress of a playbook run, kept in an annotation on the Incident.

The operator writes it before and after every step, so an operator restarted mid-playbook knows
exactly where it was: a step recorded as done is never started again, and a step that was
started but not recorded is checked against the marker on the target before it is applied.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field

from logsentinel.domain.base import SchemaModel
from logsentinel.domain.playbook import PlaybookMode

PROGRESS_ANNOTATION = "logsentinel.io/remediation"
APPROVED_BY_ANNOTATION = "logsentinel.io/approved-by"
ACKNOWLEDGED_BY_ANNOTATION = "logsentinel.io/acknowledged-by"
RESOLVE_REQUESTED_BY_ANNOTATION = "logsentinel.io/resolve-requested-by"
"""Set by the API (or kubectl annotate): the operator, the single actor on incidents, carries
the acknowledgement into status and resolves the incident."""
CIRCUIT_RESET_ANNOTATION = "logsentinel.io/reset-circuit"
"""kubectl annotate playbook X logsentinel.io/reset-circuit=true closes an open breaker."""


class RunState(StrEnum):
    AWAITING_APPROVAL = "AwaitingApproval"
    READY = "Ready"  # the next step may start
    STARTED = "Started"  # the current step was started; its effect may or may not be applied
    WAITING = "Waiting"  # a wait or verify step is in progress
    FINISHED = "Finished"  # every step ran (or the run ended); see outcome


class RunOutcome(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REFUSED = "Refused"
    DRY_RUN = "DryRun"


class RemediationProgress(SchemaModel):
    """Where a playbook run against one incident stands."""

    playbook: Annotated[str, Field(min_length=3, max_length=317, description="namespace/name")]
    mode: PlaybookMode
    attempt: Annotated[int, Field(ge=1)] = 1
    step: Annotated[int, Field(ge=0)] = 0
    state: RunState = RunState.READY
    step_started_at: AwareDatetime | None = None
    rollout_done_at: AwareDatetime | None = Field(
        default=None, description="When a verify step saw the rollout complete."
    )
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    outcome: RunOutcome | None = None
    waiting_for: Annotated[str, Field(max_length=512)] | None = None


__all__ = [
    "ACKNOWLEDGED_BY_ANNOTATION",
    "APPROVED_BY_ANNOTATION",
    "CIRCUIT_RESET_ANNOTATION",
    "PROGRESS_ANNOTATION",
    "RESOLVE_REQUESTED_BY_ANNOTATION",
    "RemediationProgress",
    "RunOutcome",
    "RunState",
]
