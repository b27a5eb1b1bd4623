"""The local stack's PostgreSQL is a real server: connections, transactional DDL and DML."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_accepts_a_connection(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT current_database(), version()").fetchone()
    assert row is not None
    assert row[0] == psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    assert str(row[1]).startswith("PostgreSQL")


def test_ddl_and_insert_commit_in_one_transaction(database_url: str) -> None:
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("CREATE TABLE logs (id bigserial PRIMARY KEY, line text NOT NULL)")
        conn.execute("INSERT INTO logs (line) VALUES (%s), (%s)", ("first", "second"))

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT line FROM logs ORDER BY id").fetchall()
    assert rows == [("first",), ("second",)]


def _create_and_insert_twice(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.transaction():
        conn.execute("CREATE TABLE audit (id int PRIMARY KEY)")
        conn.execute("INSERT INTO audit (id) VALUES (1), (1)")


def test_failed_transaction_rolls_back_ddl_and_insert(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            _create_and_insert_twice(conn)
        exists = conn.execute("SELECT to_regclass('audit')").fetchone()
    assert exists == (None,)


def test_each_test_gets_its_own_database(database_url: str, postgres_url: str) -> None:
    assert database_url != postgres_url
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
