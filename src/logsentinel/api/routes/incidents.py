"""Incidents: list, read (evidence, actions, timeline), acknowledge, approve, resolve, comment.

In Kubernetes mode the actions are annotations on the Incident object, so the operator stays
the one actor on incidents (it carries them into status and acts); without Kubernetes they are
recorded in PostgreSQL directly. Every human action is in the timeline and the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from logsentinel.api.deps import Database, Principal, allow, app_state
from logsentinel.domain.audit import AuditEntry
from logsentinel.domain.incident import APPROVED_ANNOTATION, IncidentPhase
from logsentinel.domain.remediation import (
    ACKNOWLEDGED_BY_ANNOTATION,
    APPROVED_BY_ANNOTATION,
    RESOLVE_REQUESTED_BY_ANNOTATION,
)
from logsentinel.kube.errors import KubeError, KubeNotFoundError
from logsentinel.storage import audit, incidents

router = APIRouter(prefix="/api/v1", tags=["incidents"])


class Comment(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class Resolution(BaseModel):
    resolution: str = Field(default="", max_length=1000)


def _found(connection: Any, name: str) -> dict[str, Any]:
    found = incidents.get_incident(connection, name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {name}")
    return found


def _annotate(request: Request, found: dict[str, Any], annotations: dict[str, str]) -> None:
    store = app_state(request).incidents
    if store is None:
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


@router.get("/incidents")
def list_incidents(
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
    open_only: Annotated[bool, Query(alias="open")] = False,
    namespace: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
    phase: IncidentPhase | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Newest first, filtered."""
    return incidents.list_incidents(
        connection,
        open_only=open_only,
        namespace=namespace,
        severity=severity,
        rule=rule,
        phase=phase.value if phase else None,
        limit=limit,
    )


@router.get("/incidents/{name}")
def get_incident(
    name: str,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
) -> dict[str, Any]:
    """The incident with its evidence, the actions taken and its timeline."""
    found = _found(connection, name)
    found["timeline"] = incidents.events(connection, name)
    store = app_state(request).incidents
    actions: list[Any] = []
    if store is not None:
        try:
            status_ = store.get(found["namespace"], name).get("status") or {}
            actions = list(status_.get("actions") or [])
            found["phase"] = status_.get("phase", found["phase"])
        except KubeError:
            pass  # the database copy is still worth answering with
    found["actions"] = actions
    return found


@router.post("/incidents/{name}/acknowledge", status_code=status.HTTP_202_ACCEPTED)
def acknowledge(
    name: str,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> dict[str, str]:
    """Someone is on it."""
    found = _found(connection, name)
    _annotate(request, found, {ACKNOWLEDGED_BY_ANNOTATION: who.identity})
    _record(connection, who, found, "acknowledge", {})
    return {"status": "acknowledged"}


@router.post("/incidents/{name}/approve", status_code=status.HTTP_202_ACCEPTED)
def approve(
    name: str,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> dict[str, str]:
    """Let a pending remediation (approval mode) run; the operator carries it out."""
    found = _found(connection, name)
    if app_state(request).incidents is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "remediation runs in Kubernetes mode only: nothing to approve"
        )
    _annotate(request, found, {APPROVED_ANNOTATION: "true", APPROVED_BY_ANNOTATION: who.identity})
    _record(connection, who, found, "approve", {})
    return {"status": "approved"}


@router.post("/incidents/{name}/resolve", status_code=status.HTTP_202_ACCEPTED)
def resolve(
    name: str,
    body: Resolution,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> dict[str, str]:
    """Close the incident (the operator resolves the object; the table is closed here)."""
    found = _found(connection, name)
    if found["resolved_at"] is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"incident {name} is already resolved")
    _annotate(request, found, {RESOLVE_REQUESTED_BY_ANNOTATION: who.identity})
    resolution = body.resolution or f"resolved by {who.identity}"
    incidents.resolve_incident(
        connection, name, at=datetime.now(UTC), resolution=resolution, actor=who.identity
    )
    # (resolve_incident wrote the timeline entry)
    _record(connection, who, found, "resolve", {"resolution": resolution}, timeline=False)
    return {"status": "resolved"}


@router.post("/incidents/{name}/comments", status_code=status.HTTP_201_CREATED)
def comment(
    name: str,
    body: Comment,
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
) -> dict[str, str]:
    """A note in the incident's timeline."""
    found = _found(connection, name)
    _record(connection, who, found, "comment", {"text": body.text})
    return {"status": "commented"}
