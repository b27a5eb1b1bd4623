"""Passwords (argon2id), tokens (JWT, HS256 only) and ingest API keys.

Access and refresh tokens differ by their `typ` claim, and each kind is only accepted where it
belongs: a refresh token never authorises a request, an access token never refreshes. Decoding
pins the algorithm (so `alg: none` and algorithm swaps are refused) and requires every claim.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from logsentinel.domain.access import Role

ALGORITHM = "HS256"
ISSUER = "logsentinel"
KEY_PREFIX = "lsk"
TokenKind = Literal["access", "refresh"]

_hasher = PasswordHasher()
# A hash of a random password: checking it costs as much as checking a real one, so a login for
# an unknown user takes as long as one with a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class TokenError(Exception):
    """The token is not acceptable here; the message says why (safe to show)."""


@dataclass(frozen=True)
class Claims:
    subject: str
    role: Role
    kind: TokenKind
    token_id: str
    expires_at: datetime


def issue_token(
    secret: str, subject: str, role: Role, kind: TokenKind, ttl: timedelta, now: datetime
) -> tuple[str, Claims]:
    claims = Claims(subject, role, kind, uuid.uuid4().hex, now + ttl)
    payload = {
        "iss": ISSUER,
        "sub": subject,
        "role": role.value,
        "typ": kind,
        "jti": claims.token_id,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def read_token(secret: str, token: str, kind: TokenKind) -> Claims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired") from None
    except jwt.InvalidTokenError as error:
        raise TokenError(f"invalid token: {error}") from None
    if payload.get("typ") != kind:
        raise TokenError(f"a {payload.get('typ')} token cannot be used as a {kind} token")
    try:
        role = Role(str(payload.get("role")))
    except ValueError:
        raise TokenError("invalid token: unknown role") from None
    return Claims(
        str(payload["sub"]),
        role,
        kind,
        str(payload["jti"]),
        datetime.fromtimestamp(int(payload["exp"]), UTC),
    )


def new_api_key() -> tuple[str, str, str]:
    """(key id, full key shown once, hash to store). High-entropy secrets need no slow hash."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}", hash_api_secret(secret)


def split_api_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    return parts[1], parts[2]


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_secret(secret), stored_hash)
