"""Database URL spellings the processors accept, and redaction for logs."""

from __future__ import annotations

import psycopg
import pytest

from logsentinel.storage.database import sqlalchemy_url
from logsentinel.storage.urls import libpq_url, redacted


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/logs", "postgresql://u:p@db:5432/logs"),
        ("postgresql+psycopg://u:p@db:5432/logs", "postgresql://u:p@db:5432/logs"),
        ("host=db port=5432 dbname=logs", "host=db port=5432 dbname=logs"),
    ],
)
def test_libpq_url(given: str, expected: str) -> None:
    assert libpq_url(given) == expected


def test_malformed_url_is_reported() -> None:
    with pytest.raises(psycopg.ProgrammingError):
        libpq_url("host=db port")


def test_redacted_hides_the_password_only() -> None:
    text = redacted("postgresql://alice:s3cret@db:5432/logs")
    assert "s3cret" not in text
    assert "alice" in text
    assert "password=***" in text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@db/logs", "postgresql+psycopg://u@db/logs"),
        (
            "host=/run/pg port=5433 dbname=logs",
            "postgresql+psycopg:///logs?host=%2Frun%2Fpg&port=5433",
        ),
        (
            "host=127.0.0.1 port=5433 dbname=t user=postgres",
            "postgresql+psycopg://postgres@127.0.0.1:5433/t",
        ),
    ],
)
def test_sqlalchemy_url(given: str, expected: str) -> None:
    assert sqlalchemy_url(given) == expected


def test_sqlalchemy_url_refuses_other_databases() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        sqlalchemy_url("mysql://u@db/logs")
