"""An audit log entry: who did what, when, to which target, with what result."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from logsentinel.domain.base import SchemaModel

OPERATOR_ACTOR = "logsentinel-operator"


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


__all__ = ["OPERATOR_ACTOR", "AuditEntry"]
