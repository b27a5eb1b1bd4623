"""Database URLs for psycopg, without SQLAlchemy (the processors keep their memory small).

Accepted spellings: postgresql://..., postgresql+psycopg://... (SQLAlchemy's) and libpq
key=value connection strings.
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_SQLALCHEMY_SCHEMES = ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres+psycopg://")


def libpq_url(url: str) -> str:
    """The form psycopg.connect() takes (it reads both URLs and key=value strings)."""
    for scheme in _SQLALCHEMY_SCHEMES:
        if url.startswith(scheme):
            url = "postgresql://" + url.removeprefix(scheme)
    conninfo_to_dict(url)  # raises psycopg.ProgrammingError with the reason when malformed
    return url


def redacted(url: str) -> str:
    """The connection target without its password, for logs and error messages."""
    parts = conninfo_to_dict(libpq_url(url))
    if "password" in parts:
        parts["password"] = "***"
    return make_conninfo(**{key: str(value) for key, value in parts.items() if value is not None})
