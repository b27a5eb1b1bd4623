"""Login, token refresh, who am I; users and ingest API keys (admin). Every login and every
change to users and keys is in the audit log.

A login takes no database connection while the password is checked: the user is read and the
connection given back, then argon2 runs on a password thread (password_work), then the outcome
is recorded. Login limits (api/ratelimit.py LoginLimits) come first, so that refused attempts
cost neither a password check nor a database write. A database that is busy or away is answered
503 by the application's handler (api/app.py database_unavailable).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import psycopg
import structlog
from anyio import CapacityLimiter
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, StringConstraints

from logsentinel.api import security
from logsentinel.api.deps import Database, Principal, allow, app_state, client_address
from logsentinel.api.metrics import LOGIN_ATTEMPTS
from logsentinel.api.ratelimit import retry_after
from logsentinel.api.responses import AUTHENTICATED, BAD_BODY, errors
from logsentinel.api.state import AppState
from logsentinel.domain.access import (
    ApiKeyInfo,
    CreatedApiKey,
    NewApiKey,
    NewUser,
    Role,
    User,
    UserChange,
    Username,
)
from logsentinel.domain.audit import FAILED, AdminAction
from logsentinel.parsing.attributes import clean_text
from logsentinel.storage import access, audit

log = structlog.get_logger("logsentinel.api.auth")
router = APIRouter(prefix="/api/v1", tags=["auth"])
T = TypeVar("T")

PASSWORDS_BUSY_RETRY_AFTER = 2.0
"""Seconds a login refused for load is told to wait (a queue of them takes about this long)."""


class Login(BaseModel):
    # no longer than a username or a password can be: longer cannot be right
    username: Annotated[str, StringConstraints(max_length=128)]
    password: Annotated[str, StringConstraints(max_length=1024)]


class Refresh(BaseModel):
    refresh_token: str


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    identity: str
    role: Role | None
    via: str


async def password_work(limiter: CapacityLimiter, queue: int, work: Callable[[], T]) -> T:
    """work() (argon2, 64 MiB and a quarter of a second of CPU) on a thread, at most as many at
    once as the limiter has tokens (LOGSENTINEL_LOGIN_WORKERS); 503 at once when `queue`
    (LOGSENTINEL_LOGIN_QUEUE) more already wait for one. A caller that hangs up while waiting
    leaves the queue; one whose work has started keeps its token until the work ends (anyio
    does not abandon the thread), so clients that hang up do not make room for more work than
    the threads can do."""
    if limiter.statistics().tasks_waiting >= queue:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "too many password checks at once; retry later",
            headers={"Retry-After": retry_after(PASSWORDS_BUSY_RETRY_AFTER)},
        )
    return await anyio.to_thread.run_sync(work, limiter=limiter)


def _tokens(state: AppState, connection: psycopg.Connection[Any], user: User) -> Tokens:
    now = datetime.now(UTC)
    settings = state.settings
    access_token, _ = security.issue_token(
        state.jwt_secret, user.username, user.role, "access", settings.access_token_ttl, now
    )
    refresh_token, refresh = security.issue_token(
        state.jwt_secret, user.username, user.role, "refresh", settings.refresh_token_ttl, now
    )
    access.store_refresh_token(connection, refresh.token_id, user.username, refresh.expires_at)
    return Tokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=int(settings.access_token_ttl.total_seconds()),
    )


def _check_password(state: AppState, username: str, password: str) -> tuple[User | None, str]:
    """(the user, "") when the password is right and the user enabled; else (None, why).
    Runs on a password thread: the connection is given back before argon2 starts."""
    with state.pool.connection() as connection:
        found = access.find_user(connection, username)
    if not security.verify_password(found.password_hash if found else None, password):
        return None, "wrong password" if found else "unknown user"
    assert found is not None
    if found.user.disabled:
        return None, "user disabled"
    return found.user, ""


def _logged_in(state: AppState, user: User, client: str) -> Tokens:
    with state.pool.connection() as connection, connection.transaction():
        tokens = _tokens(state, connection, user)
        audit.record_action(
            connection,
            user.username,
            AdminAction.LOGIN,
            target_kind="User",
            target_name=user.username,
            detail={"client": clean_text(client)},
        )
    return tokens


def _login_failed(state: AppState, tried: str, client: str, reason: str) -> None:
    username = clean_text(tried)  # what was typed, as the database can hold it (no NUL)
    with state.pool.connection() as connection:
        audit.record_action(
            connection,
            username,
            AdminAction.LOGIN,
            target_kind="User",
            target_name=username,
            result=FAILED,
            message=reason,
            detail={"client": clean_text(client), "reason": reason},
        )


@router.post("/auth/login", response_model=Tokens, responses={**BAD_BODY, **errors(401, 429, 503)})
async def login(body: Login, request: Request) -> Tokens:
    """Exchange a username and password for an access token and a refresh token."""
    state = app_state(request)
    client = client_address(request)
    wait = state.logins.admit(body.username, client)
    if wait:
        LOGIN_ATTEMPTS.labels("limited").inc()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many login attempts",
            headers={"Retry-After": retry_after(wait)},
        )
    try:
        user, reason = await password_work(
            state.passwords,
            state.settings.login_queue,
            lambda: _check_password(state, body.username, body.password),
        )
    except HTTPException:  # refused for load
        LOGIN_ATTEMPTS.labels("overloaded").inc()
        log.warning("login refused: too many at once", username=body.username, client=client)
        raise
    if user is None:
        LOGIN_ATTEMPTS.labels("failed").inc()
        state.logins.failed(body.username)
        await run_in_threadpool(_login_failed, state, body.username, client, reason)
        log.info("login failed", username=body.username, client=client, reason=reason)
        if reason == "user disabled":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the user is disabled")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    LOGIN_ATTEMPTS.labels("succeeded").inc()
    state.logins.succeeded(user.username, client)
    return await run_in_threadpool(_logged_in, state, user, client)


@router.post("/auth/refresh", response_model=Tokens, responses={**BAD_BODY, **errors(401)})
def refresh(body: Refresh, request: Request, connection: Database) -> Tokens:
    """A new token pair for a refresh token, which is used up (rotation)."""
    state = app_state(request)
    try:
        claims = security.read_token(state.jwt_secret, body.refresh_token, "refresh")
    except security.TokenError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    if not access.use_refresh_token(connection, claims.token_id, datetime.now(UTC)):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "the refresh token was already used or revoked"
        )
    found = access.find_user(connection, claims.subject)
    if found is None or found.user.disabled:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the user is disabled or gone")
    return _tokens(state, connection, found.user)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**BAD_BODY, **errors(401)},
)
def logout(body: Refresh, request: Request, connection: Database) -> Response:
    """End a session: its refresh token is revoked, so it can no longer be exchanged (the access
    token runs out by itself within minutes). Revoking a token again is not an error."""
    state = app_state(request)
    try:
        claims = security.read_token(state.jwt_secret, body.refresh_token, "refresh")
    except security.TokenError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    if access.use_refresh_token(connection, claims.token_id, datetime.now(UTC)):
        audit.record_action(
            connection,
            claims.subject,
            AdminAction.LOGOUT,
            target_kind="User",
            target_name=claims.subject,
            detail={"client": clean_text(client_address(request))},
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=Me, responses=AUTHENTICATED)
def me(who: Annotated[Principal, Depends(allow("viewer", "ingest"))]) -> Me:
    """Who the credentials belong to."""
    return Me(identity=who.identity, role=who.role, via=who.via)


# --- users ------------------------------------------------------------------------------------


def _in_database(state: AppState, work: Callable[[psycopg.Connection[Any]], T]) -> T:
    """work(connection) in one transaction: a change and its audit entry, or neither."""
    with state.pool.connection() as connection, connection.transaction():
        return work(connection)


@router.get("/users", response_model=list[User], responses=AUTHENTICATED)
def list_users(
    connection: Database, who: Annotated[Principal, Depends(allow("admin"))]
) -> list[User]:
    """Every user with its role and whether it is disabled (admin)."""
    return access.list_users(connection)


@router.post(
    "/users",
    response_model=User,
    status_code=status.HTTP_201_CREATED,
    responses={**AUTHENTICATED, **BAD_BODY, **errors(409, 503)},
)
async def create_user(
    body: NewUser,
    request: Request,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> User:
    """Create a user (admin)."""
    state = app_state(request)
    password_hash = await password_work(
        state.passwords, state.settings.login_queue, lambda: security.hash_password(body.password)
    )

    def create(connection: psycopg.Connection[Any]) -> User | None:
        if not access.create_user(connection, body.username, password_hash, body.role):
            return None
        audit.record_action(
            connection,
            who.identity,
            AdminAction.CREATE_USER,
            target_kind="User",
            target_name=body.username,
            detail={"role": body.role.value},
        )
        found = access.find_user(connection, body.username)
        assert found is not None
        return found.user

    created = await run_in_threadpool(_in_database, state, create)
    if created is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username} exists already")
    return created


@router.patch(
    "/users/{username}",
    response_model=User,
    responses={**AUTHENTICATED, **BAD_BODY, **errors(404, 409)},
)
def change_user(
    username: Annotated[Username, Path(description="The user to change.")],
    body: UserChange,
    request: Request,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> User:
    """Change a user's role or disable or enable it (admin). A disabled user cannot log in or
    refresh, its refresh tokens are revoked, and its access tokens are refused here at once and
    by other replicas within LOGSENTINEL_IDENTITY_CACHE_SECONDS. The last enabled admin can be
    neither disabled nor demoted (409)."""
    state = app_state(request)

    def change(connection: psycopg.Connection[Any]) -> User | None:
        changed = access.change_user(connection, username, body.role, body.disabled)
        if changed is None:
            return None
        before, after = changed
        entries = []
        if before.role is not after.role:
            entries.append(
                (AdminAction.CHANGE_USER_ROLE, {"from": before.role.value, "to": after.role.value})
            )
        if before.disabled != after.disabled:
            action = AdminAction.DISABLE_USER if after.disabled else AdminAction.ENABLE_USER
            entries.append((action, {}))
        for action, detail in entries:
            audit.record_action(
                connection,
                who.identity,
                action,
                target_kind="User",
                target_name=username,
                detail=detail,
            )
        return after

    try:
        after = _in_database(state, change)
    except access.LastAdminError as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{error}: make another user an admin first",
        ) from None
    state.identities.users.forget(username)
    if after is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}")
    return after


# --- ingest API keys --------------------------------------------------------------------------


@router.get("/api-keys", response_model=list[ApiKeyInfo], responses=AUTHENTICATED)
def list_keys(
    connection: Database, who: Annotated[Principal, Depends(allow("admin"))]
) -> list[ApiKeyInfo]:
    """Ingest API keys, without their secrets (admin)."""
    return access.list_api_keys(connection)


@router.post(
    "/api-keys",
    response_model=CreatedApiKey,
    status_code=status.HTTP_201_CREATED,
    responses={**AUTHENTICATED, **BAD_BODY},
)
def create_key(
    body: NewApiKey,
    request: Request,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> CreatedApiKey:
    """A new ingest key; its secret is in this answer only (admin)."""
    key_id, key, secret_hash = security.new_api_key()

    def create(connection: psycopg.Connection[Any]) -> ApiKeyInfo:
        info = access.create_api_key(connection, key_id, body.name, secret_hash, who.identity)
        audit.record_action(
            connection,
            who.identity,
            AdminAction.CREATE_API_KEY,
            target_kind="ApiKey",
            target_name=key_id,
            detail={"name": body.name},
        )
        return info

    info = _in_database(app_state(request), create)
    return CreatedApiKey(**info.model_dump(), key=key)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTHENTICATED, **errors(404)},
)
def revoke_key(
    key_id: str,
    request: Request,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> None:
    """Revoke an ingest key (admin): refused at once here, by other replicas within
    LOGSENTINEL_IDENTITY_CACHE_SECONDS."""
    state = app_state(request)

    def revoke(connection: psycopg.Connection[Any]) -> bool:
        if not access.revoke_api_key(connection, key_id, datetime.now(UTC)):
            return False
        audit.record_action(
            connection,
            who.identity,
            AdminAction.REVOKE_API_KEY,
            target_kind="ApiKey",
            target_name=key_id,
        )
        return True

    revoked = _in_database(state, revoke)
    state.identities.keys.forget(key_id)
    if not revoked:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active API key {key_id}")
