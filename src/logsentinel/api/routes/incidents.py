"""Incidents: list, read (evidence, actions, timeline), acknowledge, approve, resolve, comment.

In Kubernetes mode the actions are annotations on the Incident object, so the operator stays
the one actor on incidents (it carries them into status and acts); without Kubernetes the same
annotations go on the incident's row, where the Compose remediator reads them (and the
acknowledgement, resolution and comments are recorded in PostgreSQL directly). Every human
action is in the timeline and the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field, ValidationError

from logsentinel.api.deps import Database, Principal, allow, app_state
from logsentinel.api.manifests import InvalidStoredError, NotFoundError
from logsentinel.api.responses import AUTHENTICATED, BAD_BODY, errors
from logsentinel.domain.audit import AuditEntry
from logsentinel.domain.common import Severity, WorkloadRef
from logsentinel.domain.incident import (
    APPROVED_ANNOTATION,
    ActionRecord,
    Evidence,
    IncidentPhase,
    IncidentStatus,
)
from logsentinel.domain.playbook import PlaybookMode, StepType
from logsentinel.domain.remediation import (
    ACKNOWLEDGED_BY_ANNOTATION,
    APPROVED_BY_ANNOTATION,
    PROGRESS_ANNOTATION,
    RESOLVE_REQUESTED_BY_ANNOTATION,
    RemediationProgress,
    RunOutcome,
    RunState,
)
from logsentinel.domain.types import NamespaceName, ObjectName, QualifiedName, StorableText
from logsentinel.kube.errors import KubeError, KubeNotFoundError
from logsentinel.storage import audit, compose, incidents

router = APIRouter(prefix="/api/v1", tags=["incidents"], responses=AUTHENTICATED)
IncidentName = Annotated[ObjectName, Path(description="The incident's name.")]
TOTAL_HEADER = "X-Total-Count"
"""The listing's answer header: how many incidents match the filters, whatever the page."""


class IncidentSummary(BaseModel):
    """An incident as listed: the facts the processors recorded and where it stands."""

    name: str
    namespace: str
    rule: str = Field(description="namespace/name of the DetectionRule")
    service: str
    incident_type: str
    severity: Severity
    phase: IncidentPhase
    summary: str
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    target: WorkloadRef | None
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str


class TimelineEvent(BaseModel):
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


class PlannedStep(BaseModel):
    name: str
    type: StepType


class Remediation(BaseModel):
    """The playbook run the operator keeps on the Incident object (Kubernetes mode)."""

    playbook: str = Field(description="namespace/name of the Playbook.")
    mode: PlaybookMode
    state: RunState
    attempt: int
    step: int = Field(description="Index of the current (or next) step in steps.")
    waiting_for: str | None
    outcome: RunOutcome | None
    approved: bool
    steps: list[PlannedStep] = Field(
        description="The playbook's steps as it is now (empty when it can no longer be read)."
    )


class IncidentDetail(IncidentSummary):
    """An incident with its evidence, its timeline and the remediation steps taken."""

    fingerprint: str
    evidence: Evidence
    timeline: list[TimelineEvent]
    actions: list[ActionRecord] = Field(description="Kubernetes mode: the operator's steps.")
    remediation: Remediation | None = Field(
        default=None,
        description="Kubernetes mode: the playbook run, pending approval when state is "
        "AwaitingApproval.",
    )


class Accepted(BaseModel):
    status: Literal["acknowledged", "approved", "resolved", "commented"]


class Comment(BaseModel):
    text: StorableText = Field(min_length=1, max_length=4000)


class Resolution(BaseModel):
    resolution: StorableText = Field(default="", max_length=1000)


def _found(connection: Any, name: str) -> dict[str, Any]:
    found = incidents.get_incident(connection, name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {name}")
    return found


def _annotate(
    request: Request, connection: Any, found: dict[str, Any], annotations: dict[str, str]
) -> None:
    store = app_state(request).incidents
    if store is None:
        compose.annotate(connection, found["name"], annotations)
        return
    try:
        store.patch(found["namespace"], found["name"], {"metadata": {"annotations": annotations}})
    except KubeNotFoundError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no Incident object {found['namespace']}/{found['name']}"
        ) from None
    except KubeError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"Kubernetes: {error}",
            headers={"Retry-After": "5"},
        ) from None


def _record(
    connection: Any,
    who: Principal,
    found: dict[str, Any],
    action: str,
    detail: dict[str, Any],
    timeline: bool = True,
) -> None:
    """The human action in the incident's timeline (unless already there) and the audit log."""
    if timeline:
        incidents.add_event(connection, found["name"], action, who.identity, detail)
    audit.record(
        connection,
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=who.identity,
                action=action,
                result="Succeeded",
                incident=f"{found['namespace']}/{found['name']}",
                message=str(detail.get("text") or detail.get("resolution") or ""),
                detail=detail,
            )
        ],
    )


@router.get("/incidents", response_model=list[IncidentSummary])
def list_incidents(
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
    open_only: Annotated[bool, Query(alias="open")] = False,
    namespace: NamespaceName | None = None,
    severity: Severity | None = None,
    rule: Annotated[QualifiedName | None, Query(description="namespace/name, or name")] = None,
    phase: IncidentPhase | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many.")] = 0,
    *,
    response: Response,
) -> list[IncidentSummary]:
    """Newest first, filtered; the X-Total-Count header says how many match in all."""
    chosen = incidents.IncidentFilter(
        open_only=open_only,
        namespace=namespace,
        severity=severity.value if severity else None,
        rule=rule,
        phase=phase.value if phase else None,
    )
    found = incidents.list_incidents(connection, chosen, limit=limit, offset=offset)
    total = (
        offset + len(found)
        if 0 < len(found) < limit
        else incidents.count_incidents(connection, chosen)
    )
    response.headers[TOTAL_HEADER] = str(total)
    return [IncidentSummary.model_validate(row) for row in found]


@router.get("/incidents/{name}", response_model=IncidentDetail, responses=errors(404))
def get_incident(
    name: IncidentName,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
) -> IncidentDetail:
    """The incident with its evidence, the actions taken and its timeline."""
    found = _found(connection, name)
    found["timeline"] = incidents.events(connection, name)
    found["actions"] = []
    state = app_state(request)
    if state.incidents is not None:
        try:
            stored = state.incidents.get(found["namespace"], name)
        except KubeError:
            stored = {}  # the database copy is still worth answering with
    else:
        stored = _stored_object(connection, name)
    try:
        status_ = IncidentStatus.model_validate(stored["status"])
        found["actions"] = status_.actions
        if "phase" in status_.model_fields_set:
            found["phase"] = status_.phase
    except (KeyError, ValidationError):
        pass  # no (readable) status yet
    found["remediation"] = _remediation(request, stored)
    return IncidentDetail.model_validate(found)


def _stored_object(connection: Any, name: str) -> dict[str, Any]:
    """Without Kubernetes: what the remediator keeps on the row, shaped as the object."""
    kept = compose.incident_object(connection, name) or {}
    return {
        "metadata": {"annotations": kept.get("annotations") or {}},
        "status": kept.get("status"),
    }


def _remediation(request: Request, stored: dict[str, Any]) -> Remediation | None:
    """The run recorded in the Incident's annotations, with the steps of its playbook."""
    annotations = (stored.get("metadata") or {}).get("annotations") or {}
    try:
        progress = RemediationProgress.model_validate_json(annotations[PROGRESS_ANNOTATION])
    except (KeyError, ValidationError):
        return None
    steps: list[PlannedStep] = []
    namespace, _, name = progress.playbook.partition("/")
    try:
        playbook = app_state(request).playbooks.get(namespace, name)
        steps = [PlannedStep(name=s.name or s.type.value, type=s.type) for s in playbook.spec.steps]
    except (NotFoundError, InvalidStoredError, KubeError):
        pass  # gone or unreadable: the run itself is still worth showing
    return Remediation(
        playbook=progress.playbook,
        mode=progress.mode,
        state=progress.state,
        attempt=progress.attempt,
        step=progress.step,
        waiting_for=progress.waiting_for,
        outcome=progress.outcome,
        approved=annotations.get(APPROVED_ANNOTATION) == "true",
        steps=steps,
    )


@router.post(
    "/incidents/{name}/acknowledge",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(404, 503),
)
def acknowledge(
    name: IncidentName,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> Accepted:
    """Someone is on it."""
    found = _found(connection, name)
    _annotate(request, connection, found, {ACKNOWLEDGED_BY_ANNOTATION: who.identity})
    _record(connection, who, found, "acknowledge", {})
    return Accepted(status="acknowledged")


@router.post(
    "/incidents/{name}/approve",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(404, 409, 503),
)
def approve(
    name: IncidentName,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> Accepted:
    """Let a pending remediation (approval mode) run; the operator carries it out."""
    found = _found(connection, name)
    if app_state(request).incidents is None:
        run = _remediation(request, _stored_object(connection, name))
        if run is None or run.state is not RunState.AWAITING_APPROVAL:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"incident {name} has no remediation awaiting approval"
            )
    approval = {APPROVED_ANNOTATION: "true", APPROVED_BY_ANNOTATION: who.identity}
    _annotate(request, connection, found, approval)
    _record(connection, who, found, "approve", {})
    return Accepted(status="approved")


@router.post(
    "/incidents/{name}/resolve",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**BAD_BODY, **errors(404, 409, 503)},
)
def resolve(
    name: IncidentName,
    body: Resolution,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> Accepted:
    """Close the incident (the operator resolves the object; the table is closed here)."""
    found = _found(connection, name)
    if found["resolved_at"] is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"incident {name} is already resolved")
    _annotate(request, connection, found, {RESOLVE_REQUESTED_BY_ANNOTATION: who.identity})
    resolution = body.resolution or f"resolved by {who.identity}"
    incidents.resolve_incident(
        connection, name, at=datetime.now(UTC), resolution=resolution, actor=who.identity
    )
    # (resolve_incident wrote the timeline entry)
    _record(connection, who, found, "resolve", {"resolution": resolution}, timeline=False)
    return Accepted(status="resolved")


@router.post(
    "/incidents/{name}/comments",
    response_model=Accepted,
    status_code=status.HTTP_201_CREATED,
    responses={**BAD_BODY, **errors(404)},
)
def comment(
    name: IncidentName,
    body: Comment,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> Accepted:
    """A note in the incident's timeline."""
    found = _found(connection, name)
    _record(connection, who, found, "comment", {"text": body.text})
    return Accepted(status="commented")
