"""An audit log entry: who did what, when, to which target, with what result; and the names of
the people's actions the API records (logins and administrative changes)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from logsentinel.domain.base import SchemaModel

OPERATOR_ACTOR = "logsentinel-operator"
SUCCEEDED = "Succeeded"
FAILED = "Failed"


class AdminAction(StrEnum):
    """What the API audits besides incident actions; the target is in target_kind/_name."""

    LOGIN = "login"  # Succeeded, or Failed with detail.reason; detail.client always
    LOGOUT = "logout"  # the session's refresh token revoked; detail.client
    CREATE_USER = "createUser"
    CHANGE_USER_ROLE = "changeUserRole"
    DISABLE_USER = "disableUser"
    ENABLE_USER = "enableUser"
    CREATE_API_KEY = "createApiKey"
    REVOKE_API_KEY = "revokeApiKey"
    PUT_DETECTION_RULE = "putDetectionRule"
    DELETE_DETECTION_RULE = "deleteDetectionRule"
    PUT_PLAYBOOK = "putPlaybook"
    DELETE_PLAYBOOK = "deletePlaybook"


class AuditEntry(SchemaModel):
    """One remediation step outcome (dry runs and guard refusals included) or human action."""

    at: AwareDatetime
    actor: str
    action: str
    result: str
    incident: str | None = Field(default=None, description="namespace/name")
    playbook: str | None = Field(default=None, description="namespace/name")
    step: str | None = None
    target_kind: str | None = None
    target_namespace: str | None = None
    target_name: str | None = None
    guard: str | None = None
    dry_run: bool = False
    message: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


__all__ = ["FAILED", "OPERATOR_ACTOR", "SUCCEEDED", "AdminAction", "AuditEntry"]
