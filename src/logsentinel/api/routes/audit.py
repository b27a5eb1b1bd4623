"""GET /api/v1/audit: who did what, when — remediation steps, human actions on incidents,
logins and administrative changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from logsentinel.api.deps import Database, Principal, allow
from logsentinel.api.responses import AUTHENTICATED
from logsentinel.domain.audit import AuditEntry
from logsentinel.domain.types import QualifiedName
from logsentinel.storage import audit

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=AUTHENTICATED)


@router.get("/audit", response_model=list[AuditEntry])
def audit_log(
    connection: Database,
    who: Annotated[Principal, Depends(allow("operator"))],
    incident: Annotated[QualifiedName | None, Query(description="namespace/name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[A-Za-z]+$",
            description="Only this action: a remediation step type (rolloutRestart, ...), an "
            "incident action (approve, ...), login, createUser, disableUser, revokeApiKey, "
            "putDetectionRule, deletePlaybook, ...",
        ),
    ] = None,
) -> list[AuditEntry]:
    """Newest first; only one incident's entries, or one action's, when given."""
    return audit.entries(connection, incident=incident, limit=limit, action=action)
