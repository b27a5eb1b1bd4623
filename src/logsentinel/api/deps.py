"""Request dependencies: the database connection, who is calling, and what they may do.

Every route declares the roles it admits with `allow(...)`; the role-matrix test reads these
declarations, so a route without one fails it. Callers authenticate with a bearer access token
(users) or an ingest API key (`X-API-Key`, or `Authorization: Bearer lsk_...`). Every
authenticated request also takes a token from the caller's rate-limit bucket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from logsentinel.api import security
from logsentinel.api.identities import KnownKey
from logsentinel.api.ratelimit import retry_after
from logsentinel.api.state import AppState
from logsentinel.domain.access import ROLE_RANK, Role, User
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


def client_address(request: Request) -> str:
    """The caller's address: the connection's peer, or the client a trusted proxy forwarded
    for (LOGSENTINEL_TRUSTED_PROXIES; see create_app)."""
    return request.client.host if request.client else "unknown"


def database(request: Request) -> Iterator[psycopg.Connection[Any]]:
    with app_state(request).pool.connection() as connection:
        yield connection


Database = Annotated[psycopg.Connection[Any], Depends(database)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


async def principal(request: Request) -> Principal:
    """Who is calling: the dependency behind every `allow(...)` (see authenticate)."""
    return await authenticate(app_state(request), request.headers)


async def authenticate(state: AppState, headers: Mapping[str, str]) -> Principal:
    """Who is calling, from the request's headers, once a token is taken from their rate-limit
    bucket; HTTPException 401 or 429 otherwise. Async, and without a pooled connection of its
    own unless the identity must be read from the database (see identities.py): routes that
    need none, like ingest, run entirely on the event loop."""
    header = headers.get("authorization", "")
    key = headers.get("x-api-key")
    if header.lower().startswith("bearer "):
        credential = header[7:].strip()
        if credential.startswith(f"{security.KEY_PREFIX}_"):
            key = credential
        else:
            try:
                claims = security.read_token(state.jwt_secret, credential, "access")
            except security.TokenError as error:
                raise _unauthorized(str(error)) from None
            known, user = state.identities.users.get(claims.subject)
            if not known:
                user = await run_in_threadpool(_load_user, state, claims.subject)
            if user is None or user.disabled:
                raise _unauthorized("the user no longer exists or is disabled")
            return _limited(state, Principal(claims.subject, user.role, "token"))
    if key:
        return _limited(state, await _key_principal(state, key))
    raise _unauthorized("authentication required: a bearer token or an X-API-Key")


def _load_user(state: AppState, username: str) -> User | None:
    with state.pool.connection() as connection:
        found = access.find_user(connection, username)
    user = found.user if found else None
    state.identities.users.put(username, user)
    return user


async def _key_principal(state: AppState, key: str) -> Principal:
    parts = security.split_api_key(key)
    if parts is None:
        raise _unauthorized("invalid API key")
    key_id, secret = parts
    known, found = state.identities.keys.get(key_id)
    if not known:
        found = await run_in_threadpool(_load_key, state, key_id)
    if found is None or not security.api_secret_matches(secret, found.secret_hash):
        raise _unauthorized("invalid API key")
    if found.info.revoked_at is not None:
        raise _unauthorized("the API key was revoked")
    return Principal(f"key:{key_id}", None, "key")


def _load_key(state: AppState, key_id: str) -> KnownKey | None:
    """Read a key and note its use (so last_used_at is as fresh as the cache allows)."""
    with state.pool.connection() as connection:
        found = access.find_api_key(connection, key_id)
        if found is not None and found[0].revoked_at is None:
            access.touch_api_key(connection, key_id, datetime.now(UTC))
    known = KnownKey(found[0], found[1]) if found else None
    state.identities.keys.put(key_id, known)
    return known


def _limited(state: AppState, who: Principal) -> Principal:
    wait = state.requests.take(who.identity)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "rate limit exceeded",
            headers={"Retry-After": retry_after(wait)},
        )
    return who


def admitted(who: Principal, grants: frozenset[str]) -> Principal:
    """who, when these grants admit them; HTTPException 403 otherwise."""
    if not who.may(grants):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{who.identity} may not do this (needs {' or '.join(sorted(grants))})",
        )
    return who


def allow(*grants: Grant) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only these roles (and the roles above them) or ingest keys."""
    allowed = frozenset(grants)

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        return admitted(who, allowed)

    check.grants = allowed  # type: ignore[attr-defined]  # read by the role-matrix test
    return check
