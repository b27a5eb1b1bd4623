"""Storage on a real PostgreSQL: migrations, COPY writes, idempotent replays, dead letters,
daily partitions and retention, full-text search."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from logsentinel.domain import Level, LogRecord, SourcePosition
from logsentinel.domain.logrecord import EventTimeWindow
from logsentinel.storage import migrate
from logsentinel.storage.database import engine
from logsentinel.storage.partitions import existing_partitions, maintain
from logsentinel.storage.schema import Base
from logsentinel.storage.urls import libpq_url
from logsentinel.storage.writer import REJECTED_BY_DATABASE, Batch, DeadLetter, LogWriter

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
TOPIC = "logs"


def record(
    offset: int, message: str = "request done", *, when: datetime = DAY, partition: int = 0
) -> LogRecord:
    return LogRecord(
        timestamp=when + timedelta(milliseconds=offset),
        level=Level.ERROR if "error" in message else Level.INFO,
        message=message,
        service="checkout",
        namespace="shop",
        pod="checkout-7d9f8b6c5d-x2x9k",
        container="app",
        node="node-1",
        attributes={"status": 200, "path": "/cart"},
        template_id="0123456789abcdef",
        source=SourcePosition(topic=TOPIC, partition=partition, offset=offset),
    )


def batch(records: list[LogRecord], dead: list[DeadLetter] | None = None) -> Batch:
    next_offsets: dict[tuple[str, int], int] = {}
    for item in records + [d.source for d in dead or [] if d.source]:  # type: ignore[operator]
        source = item.source if isinstance(item, LogRecord) else item
        key = (source.topic, source.partition)
        next_offsets[key] = max(next_offsets.get(key, 0), source.offset + 1)
    return Batch(records=records, dead_letters=dead or [], next_offsets=next_offsets)


@pytest.fixture
def migrated(database_url: str) -> str:
    migrate.upgrade(database_url)
    return libpq_url(database_url)


PARTITION = re.compile(r"^logs_\d{8}$")


def count(url: str, query: str, *args: Any) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(query, args).fetchone()
        assert row is not None
        return int(row[0])


def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    url = libpq_url(database_url)
    tables = {"logs", "dead_letters", "consumer_offsets"}
    assert count(url, "SELECT count(*) FROM pg_tables WHERE tablename = ANY(%s)", list(tables)) == 3
    assert (
        count(
            url,
            "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'logs'",
        )
        == 1
    )


def test_the_models_describe_the_migrated_database_exactly(
    migrated: str, database_url: str
) -> None:
    """storage/schema.py is the migrations' source: Alembic finds nothing to change between the
    models and a database migrated to head (the day partitions of logs, which processors create,
    are left out)."""
    with engine(database_url).connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": lambda obj, name, kind, reflected, compare_to: (
                    not (
                        kind == "table"
                        and reflected
                        and compare_to is None
                        and PARTITION.match(name)
                    )
                )
            },
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_processes_migrating_a_new_database_at_once_take_turns(database_url: str) -> None:
    """Operator, API and processors all migrate at start: on a new database they race."""
    environment = {**os.environ, "LOGSENTINEL_DATABASE_URL": database_url}
    migrators = [
        subprocess.Popen(
            [sys.executable, "-m", "logsentinel.cli", "migrate"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [migrator.communicate(timeout=120)[0] for migrator in migrators]
    assert [migrator.returncode for migrator in migrators] == [0] * 4, outputs
    assert migrate.current_revision(database_url) == migrate.head_revision()


def test_write_then_replay_stores_each_record_once(migrated: str) -> None:
    writer = LogWriter("processors")
    records = [record(offset) for offset in range(500)]
    with psycopg.connect(migrated) as connection:
        first = writer.write(connection, batch(records))
        again = writer.write(connection, batch(records))
        partly = writer.write(connection, batch([record(o) for o in range(450, 600)]))
    assert (first.stored, first.replayed) == (500, 0)
    assert (again.stored, again.replayed) == (0, 500)
    assert (partly.stored, partly.replayed) == (100, 50)
    assert count(migrated, "SELECT count(*) FROM logs") == 600
    assert count(migrated, "SELECT count(DISTINCT source_offset) FROM logs") == 600
    assert (
        count(migrated, "SELECT next_offset FROM consumer_offsets WHERE topic = %s", TOPIC) == 600
    )


def test_a_fresh_writer_reads_offsets_committed_with_the_data(migrated: str) -> None:
    with psycopg.connect(migrated) as connection:
        LogWriter("processors").write(connection, batch([record(o) for o in range(10)]))
        assert LogWriter("processors").stored_offsets(connection, TOPIC) == {0: 10}
        assert LogWriter("other-group").stored_offsets(connection, TOPIC) == {}


def test_partitions_are_created_for_each_day_touched(migrated: str) -> None:
    records = [
        record(0, when=DAY - timedelta(days=2)),
        record(1),
        record(2, when=DAY + timedelta(days=1)),
    ]
    with psycopg.connect(migrated) as connection:
        LogWriter("processors").write(connection, batch(records))
        days = existing_partitions(connection)
    assert [day.isoformat() for day in days] == ["2026-11-20", "2026-11-22", "2026-11-23"]


def test_maintenance_makes_the_window_and_drops_whole_old_partitions(migrated: str) -> None:
    records = [record(i, when=DAY - timedelta(days=days)) for i, days in enumerate([10, 8, 1, 0])]
    with psycopg.connect(migrated) as connection:
        LogWriter("processors").write(connection, batch(records))
    window = EventTimeWindow().days(DAY)
    with psycopg.connect(migrated, autocommit=True) as connection:
        done = maintain(connection, window, timedelta(days=7), now=DAY)
        remaining = existing_partitions(connection)
    assert done.complete
    assert done.dropped == ["logs_20261112", "logs_20261114"]
    assert len(done.created) == len(window) - 2, "the days that had records had partitions"
    assert remaining == window
    assert [window[0].isoformat(), window[-1].isoformat()] == ["2026-11-15", "2026-11-23"]
    assert count(migrated, "SELECT count(*) FROM logs") == 2


def test_a_detach_cut_short_by_a_reader_is_finished_by_the_next_run(migrated: str) -> None:
    old = (DAY - timedelta(days=30)).date()
    with psycopg.connect(migrated) as connection:
        LogWriter("processors").write(
            connection, batch([record(0, when=DAY - timedelta(30)), record(1)])
        )
    window = EventTimeWindow().days(DAY)
    reader = psycopg.connect(migrated)
    try:
        reader.execute("SELECT count(*) FROM logs").fetchone()  # sees the old partition
        with psycopg.connect(migrated, autocommit=True) as connection:
            first = maintain(connection, window, timedelta(days=7), now=DAY)
        assert count(migrated, "SELECT count(*) FROM logs") == 1, "new queries do not see it"
    finally:
        reader.close()
    assert not first.complete
    assert first.problem is not None
    assert "lock timeout" in first.problem
    with psycopg.connect(migrated, autocommit=True) as connection:
        second = maintain(connection, window, timedelta(days=7), now=DAY)
        assert existing_partitions(connection) == window
    assert second.complete
    assert second.dropped == [f"logs_{old:%Y%m%d}"]
    assert (
        count(migrated, "SELECT count(*) FROM pg_class WHERE relname = %s", f"logs_{old:%Y%m%d}")
        == 0
    )


def test_one_maintenance_run_at_a_time(migrated: str) -> None:
    window = EventTimeWindow().days(DAY)
    with (
        psycopg.connect(migrated, autocommit=True) as first,
        psycopg.connect(migrated, autocommit=True) as second,
    ):
        busy = first.execute(
            "SELECT pg_advisory_lock(%s)", (zlib.crc32(b"logsentinel.partitions.maintenance"),)
        )
        assert busy.fetchone() is not None
        assert maintain(second, window, timedelta(days=7), now=DAY).skipped
        first.execute("SELECT pg_advisory_unlock_all()")
        done = maintain(second, window, timedelta(days=7), now=DAY)
    assert not done.skipped
    assert len(done.created) == len(window)


def test_dead_letters_are_stored_once_with_reason(migrated: str) -> None:
    dead = [
        DeadLetter(
            "undecodable",
            "not JSON at byte 0",
            b"\xff\xfe",
            SourcePosition(topic=TOPIC, partition=0, offset=3),
        )
    ]
    writer = LogWriter("processors")
    with psycopg.connect(migrated) as connection:
        writer.write(connection, batch([record(1), record(2)], dead))
        writer.write(connection, batch([record(1), record(2)], dead))
        row = connection.execute(
            "SELECT reason, detail, payload, payload_size FROM dead_letters"
        ).fetchall()
    assert row == [("undecodable", "not JSON at byte 0", b"\xff\xfe", 2)]
    assert count(migrated, "SELECT next_offset FROM consumer_offsets") == 4


def test_hostile_rows_are_sanitised_or_isolated(migrated: str) -> None:
    records = [record(o) for o in range(20)]
    records[3] = record(3, "nul \x00 inside")
    records[7] = record(7).model_copy(update={"attributes": {"key": "nul \x00 in json"}})
    # pydantic refuses this at validation; model_copy skips validation, as a fast path might
    records[11] = record(11).model_copy(update={"message": "lone surrogate \udc80 here"})
    # what the fast JSON encoder refuses and the standard library writes
    records[13] = record(13).model_copy(update={"attributes": {"big": 2**70, "text": "café"}})
    records[14] = record(14).model_copy(update={"attributes": {"key": "surrogate \udc80"}})
    with psycopg.connect(migrated) as connection:
        result = LogWriter("processors").write(connection, batch(records))
        messages = dict(connection.execute("SELECT source_offset, message FROM logs").fetchall())
        attributes = connection.execute(
            "SELECT attributes FROM logs WHERE source_offset = 7"
        ).fetchone()
        big = connection.execute("SELECT attributes FROM logs WHERE source_offset = 13").fetchone()
        dead = connection.execute(
            "SELECT reason, source_offset, detail FROM dead_letters ORDER BY source_offset"
        ).fetchall()
    assert result.stored == 18
    assert messages[3] == "nul \ufffd inside"
    assert attributes == ({"key": "nul \ufffd in json"},)
    assert big == ({"big": 2**70, "text": "café"},)
    assert [(reason, offset) for reason, offset, _ in dead] == [
        (REJECTED_BY_DATABASE, 11),
        (REJECTED_BY_DATABASE, 14),
    ]
    assert "database refused the row" in dead[0][2]


def test_full_text_search_uses_the_gin_index(migrated: str) -> None:
    records = [
        record(o, "payment timeout after 30s" if o % 10 == 0 else "request done")
        for o in range(200)
    ]
    with psycopg.connect(migrated) as connection:
        LogWriter("processors").write(connection, batch(records))
        connection.execute("ANALYZE logs")
        query = (
            "FROM logs WHERE to_tsvector('simple', message) @@ plainto_tsquery('simple', 'timeout')"
        )
        found = connection.execute(f"SELECT count(*) {query}").fetchone()
        connection.execute("SET enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in connection.execute(f"EXPLAIN SELECT * {query}").fetchall()
        )
    assert found == (20,)
    assert "logs_" in plan
    assert "Bitmap Index Scan" in plan


def test_a_stale_consumer_writing_the_same_batch_concurrently_adds_nothing(migrated: str) -> None:
    records = [record(o) for o in range(2000)]
    results = []
    barrier = threading.Barrier(2)

    def consumer() -> None:
        with psycopg.connect(migrated) as connection:
            barrier.wait(timeout=30)
            results.append(LogWriter("processors").write(connection, batch(records)))

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.stored for r in results) == [0, 2000]
    assert count(migrated, "SELECT count(*) FROM logs") == 2000
