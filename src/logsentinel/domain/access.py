"""Who may use the API: users with a role, and ingest API keys for services."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from logsentinel.domain.base import SchemaModel, field_error
from logsentinel.domain.types import StorableText


class Role(StrEnum):
    """admin: everything, users and keys; operator: incidents, rules, playbooks; viewer: read."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
"""Each role can do what the roles below it can."""

Username = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@+-]+$")
]
Password = Annotated[str, StringConstraints(min_length=12, max_length=1024)]


class User(SchemaModel):
    username: Username
    role: Role
    disabled: bool = False
    created_at: AwareDatetime | None = None


class NewUser(SchemaModel):
    username: Username
    password: Password
    role: Role


class UserChange(SchemaModel):
    """What an admin changes about a user: the role, the disabled flag, or both."""

    role: Role | None = None
    disabled: bool | None = Field(
        default=None,
        description="A disabled user cannot log in or refresh, and its tokens stop working.",
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.role is None and self.disabled is None:
            raise field_error("role", "set role, disabled, or both")
        return self


class ApiKeyInfo(SchemaModel):
    """An ingest key as listed: never the secret, which is shown once at creation."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    created_by: Username
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    last_used_at: AwareDatetime | None = None


class NewApiKey(SchemaModel):
    name: Annotated[StorableText, StringConstraints(min_length=1, max_length=128)]


class CreatedApiKey(ApiKeyInfo):
    key: str = Field(description="The secret: shown only in this answer.")


__all__ = [
    "ROLE_RANK",
    "ApiKeyInfo",
    "CreatedApiKey",
    "NewApiKey",
    "NewUser",
    "Role",
    "User",
    "UserChange",
]
