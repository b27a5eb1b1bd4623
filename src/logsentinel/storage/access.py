"""Users, ingest API keys and refresh tokens in PostgreSQL. Hashing happens in the caller:
this module stores and finds hashes, never secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from logsentinel.domain.access import ApiKeyInfo, Role, User


def _findable(key: str) -> bool:
    """PostgreSQL text cannot hold NUL, so a key with one names nothing stored (and would make
    the query fail): callers look up names and ids straight from requests."""
    return "\x00" not in key


@dataclass(frozen=True)
class StoredUser:
    user: User
    password_hash: str


def create_user(
    connection: psycopg.Connection[Any], username: str, password_hash: str, role: Role
) -> bool:
    """False when the username is taken."""
    cursor = connection.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s) "
        "ON CONFLICT (username) DO NOTHING",
        (username, password_hash, role.value),
    )
    return cursor.rowcount == 1


def _user(row: Any) -> User:
    return User(username=row[0], role=Role(row[1]), disabled=row[2], created_at=row[3])


def find_user(connection: psycopg.Connection[Any], username: str) -> StoredUser | None:
    if not _findable(username):
        return None
    row = connection.execute(
        "SELECT username, role, disabled, created_at, password_hash FROM users WHERE username = %s",
        (username,),
    ).fetchone()
    if row is None:
        return None
    return StoredUser(_user(row), row[4])


def list_users(connection: psycopg.Connection[Any]) -> list[User]:
    rows = connection.execute(
        "SELECT username, role, disabled, created_at FROM users ORDER BY username"
    ).fetchall()
    return [_user(row) for row in rows]


class LastAdminError(Exception):
    """The change would leave no enabled admin (nobody could manage users any more)."""


def change_user(
    connection: psycopg.Connection[Any],
    username: str,
    role: Role | None = None,
    disabled: bool | None = None,
) -> tuple[User, User] | None:
    """Set a user's role and/or disabled flag: (before, after), None when there is no such user.

    The enabled admins' rows are locked first (in one order), so two admins disabling or
    demoting each other at the same time cannot both succeed and leave none: the second waits,
    then sees the first's change. Disabling also revokes the user's refresh tokens, which
    enabling the user again does not bring back.
    """
    if not _findable(username):
        return None
    with connection.transaction():
        admins = connection.execute(
            "SELECT username FROM users WHERE role = 'admin' AND NOT disabled "
            "ORDER BY username FOR UPDATE"
        ).fetchall()
        row = connection.execute(
            "SELECT username, role, disabled, created_at FROM users WHERE username = %s FOR UPDATE",
            (username,),
        ).fetchone()
        if row is None:
            return None
        before = _user(row)
        after = before.model_copy(
            update={
                "role": before.role if role is None else role,
                "disabled": before.disabled if disabled is None else disabled,
            }
        )

        def enabled_admin(user: User) -> bool:
            return user.role is Role.ADMIN and not user.disabled

        if enabled_admin(before) and not enabled_admin(after) and len(admins) <= 1:
            raise LastAdminError(f"{username} is the last enabled admin")
        connection.execute(
            "UPDATE users SET role = %s, disabled = %s WHERE username = %s",
            (after.role.value, after.disabled, username),
        )
        if after.disabled and not before.disabled:
            connection.execute(
                "UPDATE refresh_tokens SET revoked_at = now() "
                "WHERE username = %s AND revoked_at IS NULL",
                (username,),
            )
    return before, after


def set_password_hash(connection: psycopg.Connection[Any], username: str, hashed: str) -> None:
    connection.execute(
        "UPDATE users SET password_hash = %s WHERE username = %s", (hashed, username)
    )


def count_admins(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled"
    ).fetchone()
    return int(row[0]) if row else 0


def create_api_key(
    connection: psycopg.Connection[Any], key_id: str, name: str, secret_hash: str, creator: str
) -> ApiKeyInfo:
    row = connection.execute(
        "INSERT INTO api_keys (id, name, secret_hash, created_by) VALUES (%s, %s, %s, %s) "
        "RETURNING created_at",
        (key_id, name, secret_hash, creator),
    ).fetchone()
    assert row is not None
    return ApiKeyInfo(id=key_id, name=name, created_by=creator, created_at=row[0])


def find_api_key(connection: psycopg.Connection[Any], key_id: str) -> tuple[ApiKeyInfo, str] | None:
    """The key and its secret hash, or None."""
    if not _findable(key_id):
        return None
    row = connection.execute(
        "SELECT id, name, created_by, created_at, revoked_at, last_used_at, secret_hash "
        "FROM api_keys WHERE id = %s",
        (key_id,),
    ).fetchone()
    if row is None:
        return None
    return _key(row), str(row[6])


def list_api_keys(connection: psycopg.Connection[Any]) -> list[ApiKeyInfo]:
    rows = connection.execute(
        "SELECT id, name, created_by, created_at, revoked_at, last_used_at FROM api_keys "
        "ORDER BY created_at DESC"
    ).fetchall()
    return [_key(row) for row in rows]


def revoke_api_key(connection: psycopg.Connection[Any], key_id: str, at: datetime) -> bool:
    if not _findable(key_id):
        return False
    cursor = connection.execute(
        "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL", (at, key_id)
    )
    return cursor.rowcount == 1


def touch_api_key(connection: psycopg.Connection[Any], key_id: str, at: datetime) -> None:
    connection.execute("UPDATE api_keys SET last_used_at = %s WHERE id = %s", (at, key_id))


def _key(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row[0],
        name=row[1],
        created_by=row[2],
        created_at=row[3],
        revoked_at=row[4],
        last_used_at=row[5],
    )


def store_refresh_token(
    connection: psycopg.Connection[Any], jti: str, username: str, expires_at: datetime
) -> None:
    connection.execute(
        "INSERT INTO refresh_tokens (jti, username, expires_at) VALUES (%s, %s, %s)",
        (jti, username, expires_at),
    )


def use_refresh_token(connection: psycopg.Connection[Any], jti: str, at: datetime) -> bool:
    """Revoke a refresh token as it is used (rotation); False if unknown, used or expired."""
    cursor = connection.execute(
        "UPDATE refresh_tokens SET revoked_at = %s "
        "WHERE jti = %s AND revoked_at IS NULL AND expires_at > %s",
        (at, jti, at),
    )
    return cursor.rowcount == 1
