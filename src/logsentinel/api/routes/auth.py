"""Login, token refresh, who am I; users and ingest API keys (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from logsentinel.api import security
from logsentinel.api.deps import Database, Principal, allow, app_state
from logsentinel.api.ratelimit import retry_after
from logsentinel.api.responses import AUTHENTICATED, BAD_BODY, errors
from logsentinel.domain.access import ApiKeyInfo, CreatedApiKey, NewApiKey, NewUser, Role, User
from logsentinel.storage import access

router = APIRouter(prefix="/api/v1", tags=["auth"])


class Login(BaseModel):
    username: str
    password: str


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


def _tokens(request: Request, connection: Database, user: User) -> Tokens:
    state = app_state(request)
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


@router.post("/auth/login", response_model=Tokens, responses={**BAD_BODY, **errors(401, 429)})
def login(body: Login, request: Request, connection: Database) -> Tokens:
    """Exchange a username and password for an access token and a refresh token."""
    state = app_state(request)
    client = request.client.host if request.client else "?"
    wait = state.logins.take(f"{body.username}|{client}")
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many login attempts",
            headers={"Retry-After": retry_after(wait)},
        )
    found = access.find_user(connection, body.username)
    if not security.verify_password(found.password_hash if found else None, body.password):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    assert found is not None
    if found.user.disabled:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the user is disabled")
    return _tokens(request, connection, found.user)


@router.post("/auth/refresh", response_model=Tokens, responses={**BAD_BODY, **errors(401)})
def refresh(body: Refresh, request: Request, connection: Database) -> Tokens:
    """A new token pair for a refresh token, which is used up (rotation)."""
    state = app_state(request)
    try:
        claims = security.read_token(state.jwt_secret, body.refresh_token, "refresh")
    except security.TokenError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    if not access.use_refresh_token(connection, claims.token_id, datetime.now(UTC)):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the refresh token was already used")
    found = access.find_user(connection, claims.subject)
    if found is None or found.user.disabled:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the user is disabled or gone")
    return _tokens(request, connection, found.user)


@router.get("/auth/me", response_model=Me, responses=AUTHENTICATED)
def me(who: Annotated[Principal, Depends(allow("viewer", "ingest"))]) -> Me:
    """Who the credentials belong to."""
    return Me(identity=who.identity, role=who.role, via=who.via)


@router.post(
    "/users",
    response_model=User,
    status_code=status.HTTP_201_CREATED,
    responses={**AUTHENTICATED, **BAD_BODY, **errors(409)},
)
def create_user(
    body: NewUser,
    connection: Database,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> User:
    """Create a user (admin)."""
    if not access.create_user(
        connection, body.username, security.hash_password(body.password), body.role
    ):
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username} exists already")
    found = access.find_user(connection, body.username)
    assert found is not None
    return found.user


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
    connection: Database,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> CreatedApiKey:
    """A new ingest key; its secret is in this answer only (admin)."""
    key_id, key, secret_hash = security.new_api_key()
    info = access.create_api_key(connection, key_id, body.name, secret_hash, who.identity)
    return CreatedApiKey(**info.model_dump(), key=key)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTHENTICATED, **errors(404)},
)
def revoke_key(
    key_id: str,
    request: Request,
    connection: Database,
    who: Annotated[Principal, Depends(allow("admin"))],
) -> None:
    """Revoke an ingest key (admin): refused at once here, by other replicas within
    LOGSENTINEL_IDENTITY_CACHE_SECONDS."""
    revoked = access.revoke_api_key(connection, key_id, datetime.now(UTC))
    app_state(request).identities.keys.forget(key_id)
    if not revoked:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active API key {key_id}")
