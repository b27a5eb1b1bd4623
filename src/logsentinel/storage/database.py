"""SQLAlchemy URLs and engines (queries, migrations); psycopg-only code uses urls.py."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.engine import make_url

SQLALCHEMY_DRIVER = "postgresql+psycopg"


def _parse(url: str) -> URL:
    if "://" in url:
        return make_url(url)
    parts = {key: str(value) for key, value in conninfo_to_dict(url).items()}
    host, port = parts.pop("host", None), parts.pop("port", None)
    if host and host.startswith("/"):  # a Unix socket directory travels in the query
        parts["host"], host = host, None
        if port:
            parts["port"], port = port, None
    return URL.create(
        "postgresql",
        username=parts.pop("user", None),
        password=parts.pop("password", None),
        host=host,
        port=int(port) if port else None,
        database=parts.pop("dbname", None),
        query=parts,
    )


def sqlalchemy_url(url: str) -> str:
    """Any accepted spelling -> ``postgresql+psycopg://...`` for SQLAlchemy."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername=SQLALCHEMY_DRIVER).render_as_string(hide_password=False)


def engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True)
