"""Template ids in a real PostgreSQL: saved with the records that use them, idempotently, and a
fresh miner seeded from the database gives new lines of stored events the stored ids."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from logsentinel.domain import Level, LogRecord, SourcePosition
from logsentinel.parsing.templates import Learnt, TemplateMiner
from logsentinel.processors.main import seeded_miner
from logsentinel.processors.settings import ProcessorSettings
from logsentinel.storage import migrate
from logsentinel.storage import templates as template_store
from logsentinel.storage.urls import libpq_url
from logsentinel.storage.writer import Batch, LogWriter

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
LINES = [
    "login ok for alice",
    "login ok for bob",
    "order 12 shipped to zone 3 from 10.0.0.7:8080",
    "cache evicted 4 keys in 12ms",
    "worker w1 picked job 7 from queue emails",
    "worker w2 picked job 8 from queue invoices",
]
LATER = {
    "login ok for erin": "login ok for alice",
    "order 99 shipped to zone 1 from db.shop.svc:5432": LINES[2],
    "cache evicted 70 keys in 3ms": LINES[3],
    "worker w9 picked job 1 from queue sms": LINES[4],
}


@pytest.fixture
def migrated(database_url: str) -> str:
    migrate.upgrade(database_url)
    return libpq_url(database_url)


def record(offset: int, message: str, template_id: str) -> LogRecord:
    return LogRecord(
        timestamp=DAY + timedelta(milliseconds=offset),
        level=Level.INFO,
        message=message,
        service="checkout",
        namespace="shop",
        pod="checkout-7d9f8b6c5d-x2x9k",
        container="app",
        node="node-1",
        template_id=template_id,
        source=SourcePosition(topic="logs", partition=0, offset=offset),
    )


def test_a_miner_seeded_from_the_database_gives_the_stored_ids(migrated: str) -> None:
    miner = TemplateMiner()
    records = [record(index, line, miner.match(line).id) for index, line in enumerate(LINES)]
    ids = {line: item.template_id for line, item in zip(LINES, records, strict=True)}
    learnt = miner.learnt()
    writer = LogWriter("processors")
    with psycopg.connect(migrated) as connection:
        batch = Batch(records=records, next_offsets={("logs", 0): len(records)}, templates=learnt)
        assert writer.write(connection, batch).stored == len(LINES)
        # idempotent: the same learnt values again (a retried batch) change nothing
        assert template_store.save(connection, learnt, set(ids.values()))
        connection.commit()
        stored = template_store.load_recent(connection, 100)
        used = connection.execute("SELECT DISTINCT template_id FROM logs").fetchall()
    assert {key for key, _ in stored.templates} == {row[0] for row in used}
    assert dict(stored.templates) == {key: miner.text_of(key) for key, _ in stored.templates}

    restarted = TemplateMiner()
    restarted.seed(stored.templates, stored.aliases, stored.merges)
    for line, like in LATER.items():
        assert restarted.match(line).id == ids[like], line
    assert not restarted.learnt().templates


def test_merges_and_aliases_round_trip(migrated: str) -> None:
    learnt = Learnt(
        templates={"a" * 16: "login ok for <*>", "b" * 16: "disk full on <PATH>"},
        aliases={"login ok for alice": "a" * 16, "login ok for <*>": "b" * 16},
        merges={"a" * 16: "b" * 16, "c" * 16: "b" * 16},
    )
    with psycopg.connect(migrated) as connection:
        connection.execute("INSERT INTO templates (id, text) VALUES (%s, 'old')", ("c" * 16,))
        assert template_store.save(connection, learnt)
        connection.commit()
        stored = template_store.load_recent(connection, 10)
    assert sorted(stored.merges) == [("a" * 16, "b" * 16), ("c" * 16, "b" * 16)]
    assert sorted(stored.aliases) == [
        ("login ok for <*>", "b" * 16),
        ("login ok for alice", "a" * 16),
    ]
    miner = TemplateMiner()
    miner.seed(stored.templates, stored.aliases, stored.merges)
    assert miner.event_of("a" * 16) == "b" * 16


def test_values_the_database_refuses_do_not_stop_the_batch(migrated: str) -> None:
    learnt = Learnt(templates={"d" * 16: "nul \x00 and \ud800 here"}, aliases={"x\x00": "d" * 16})
    with psycopg.connect(migrated) as connection:
        assert template_store.save(connection, learnt)
        connection.commit()
        stored = template_store.load_recent(connection, 10)
    assert stored.templates == [("d" * 16, "nul \ufffd and ? here")]


def test_the_processor_seeds_its_miner_and_starts_cold_without_a_database(migrated: str) -> None:
    learnt = Learnt(
        templates={"e" * 16: "login ok for <*>"}, aliases={"login ok for <*>": "e" * 16}
    )
    with psycopg.connect(migrated) as connection:
        template_store.save(connection, learnt)
    settings = ProcessorSettings(database_url=migrated, kafka_bootstrap="127.0.0.1:9")
    assert seeded_miner(settings).match("login ok for frank").id == "e" * 16

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    nowhere = ProcessorSettings(
        database_url=f"postgresql://x@127.0.0.1:{port}/x", kafka_bootstrap="127.0.0.1:9"
    )
    cold = seeded_miner(nowhere)
    assert len(cold) == 0
    assert cold.match("login ok for frank").id != "e" * 16


def test_retention_drops_templates_not_seen_since_the_cutoff(migrated: str) -> None:
    learnt = Learnt(
        templates={"f" * 16: "old event <NUM>", "0" * 16: "new event <NUM>"},
        aliases={"old event <NUM>": "f" * 16, "new event <NUM>": "0" * 16},
    )
    with psycopg.connect(migrated) as connection:
        template_store.save(connection, learnt)
        connection.execute(
            "UPDATE templates SET last_seen = now() - interval '8 days' WHERE id = %s", ("f" * 16,)
        )
        cutoff = datetime.now(UTC) - timedelta(days=7)
        assert template_store.delete_unseen_since(connection, cutoff) == 1
        stored = template_store.load_recent(connection, 10)
    assert stored.templates == [("0" * 16, "new event <NUM>")]
    assert stored.aliases == [("new event <NUM>", "0" * 16)]
