"""Request dependencies: the database connection, who is calling, and what they may do.

Every route declares the roles it admits with `allow(...)`; the role-matrix test reads these
declarations, so a route without one fails it. Callers authenticate with a bearer access token
(users) or an ingest API key (`X-API-Key`, or `Authorization: Bearer lsk_...`). Every
authenticated request also takes a token from the caller's rate-limit bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, HTTPException, Request, status

from logsentinel.api import security
from logsentinel.api.ratelimit import retry_after
from logsentinel.api.state import AppState
from logsentinel.domain.access import ROLE_RANK, Role
from logsentinel.storage import access

INGEST = "ingest"
Grant = Literal["admin", "operator", "viewer", "ingest"]


@dataclass(frozen=True)
class Principal:
    identity: str  # username, or "key:<id>"
    role: Role | None  # None for an ingest key
    via: Literal["token", "key"]

    def may(self, grants: frozenset[str]) -> bool:
        if self.role is None:
            return INGEST in grants
        ranks = [ROLE_RANK[Role(g)] for g in grants if g != INGEST]
        return bool(ranks) and ROLE_RANK[self.role] >= min(ranks)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.logsentinel
    return state


def database(request: Request) -> Iterator[psycopg.Connection[Any]]:
    with app_state(request).pool.connection() as connection:
        yield connection


Database = Annotated[psycopg.Connection[Any], Depends(database)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def principal(request: Request, connection: Database) -> Principal:
    state = app_state(request)
    header = request.headers.get("authorization", "")
    key = request.headers.get("x-api-key")
    if header.lower().startswith("bearer "):
        credential = header[7:].strip()
        if credential.startswith(f"{security.KEY_PREFIX}_"):
            key = credential
        else:
            try:
                claims = security.read_token(state.jwt_secret, credential, "access")
            except security.TokenError as error:
                raise _unauthorized(str(error)) from None
            found = access.find_user(connection, claims.subject)
            if found is None or found.user.disabled:
                raise _unauthorized("the user no longer exists or is disabled")
            return _limited(state, Principal(claims.subject, found.user.role, "token"))
    if key:
        return _limited(state, _key_principal(connection, key))
    raise _unauthorized("authentication required: a bearer token or an X-API-Key")


def _key_principal(connection: psycopg.Connection[Any], key: str) -> Principal:
    parts = security.split_api_key(key)
    found = access.find_api_key(connection, parts[0]) if parts else None
    if parts is None or found is None or not security.api_secret_matches(parts[1], found[1]):
        raise _unauthorized("invalid API key")
    info, _ = found
    if info.revoked_at is not None:
        raise _unauthorized("the API key was revoked")
    access.touch_api_key(connection, info.id, datetime.now(UTC))
    return Principal(f"key:{info.id}", None, "key")


def _limited(state: AppState, who: Principal) -> Principal:
    wait = state.requests.take(who.identity)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "rate limit exceeded",
            headers={"Retry-After": retry_after(wait)},
        )
    return who


def allow(*grants: Grant) -> Callable[..., Principal]:
    """A dependency admitting only these roles (and the roles above them) or ingest keys."""
    allowed = frozenset(grants)

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(allowed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{who.identity} may not do this (needs {' or '.join(sorted(allowed))})",
            )
        return who

    check.grants = allowed  # type: ignore[attr-defined]  # read by the role-matrix test
    return check
