"""A processor on real Kafka and PostgreSQL against records and conditions meant to stop it.

- Records of 1 MiB and 5 MiB (larger than any dead-letter message may be) between good records:
  the good ones are all stored, each big one is dead-lettered exactly once (on the topic cut to
  fit, with its size, source position and SHA-256 digest; whole in PostgreSQL), the processor
  never crashes, and a restart writes no dead letter again.
- A dead-letter topic that refuses a letter for its size: the letter is kept in PostgreSQL with
  the refusal in its detail, its neighbours reach the topic, the partition moves on.
- `logsentinel processor` as a process, SIGTERM while a batch is stuck in the database: it gives
  up within its grace period (status 1, a structured line saying so) and the abandoned batch is
  stored by the next processor, exactly once. SIGTERM while merely busy: a clean exit (status 0).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from logsentinel.processors.main import build
from logsentinel.processors.settings import ProcessorSettings
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from sampledata import fluent_bit_value, sample_logs
from support.kafka import create_topic, produce, read_committed
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
DEAD_LETTER_MESSAGE_MAX = 1_000_000  # the processor's producer default (message.max.bytes)
GRACE_SECONDS = 5
DID_NOT_HANG = GRACE_SECONDS + 25  # generous: the bound that matters is "it exits at all"


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        row = connection.execute(query).fetchone()
        assert row is not None
        return row[0]


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        return connection.execute(query).fetchall()


@pytest.fixture
def migrated(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture
def dead_topic(kafka_bootstrap: str, kafka_topic: str) -> Iterator[str]:
    """The dead-letter topic's name; the test creates it, this deletes it."""
    name = f"{kafka_topic}-dead"
    yield name
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_topics([name], operation_timeout=30).values():
        future.result(timeout=30)


def create_topic_with(bootstrap: str, name: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(name, 1, 1, config=config)], operation_timeout=30)
    future[name].result(timeout=30)


def produce_in_order(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Produce to partition 0 in this order, records up to 8 MiB."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "message.max.bytes": 8 * MiB}
    )
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error)

    for value in values:
        producer.produce(topic, value=value, partition=0, on_delivery=delivered)
        producer.flush(30)  # one at a time keeps the order whatever the batching
    assert failures == []


def settings_for(database_url: str, bootstrap: str, topic: str, dead: str) -> ProcessorSettings:
    return processor_settings(database_url, bootstrap, topic, dead_letter_topic=dead)


def good_values(count: int, seed: int) -> list[bytes]:
    return [log.value for log in sample_logs(count, seed=seed)]


def big_value(size: int) -> bytes:
    """A well-formed Fluent Bit record of about size bytes (its log line is the bulk)."""
    text = "".join(random.Random(size).choices("abcdefghij klmnop", k=size))
    return fluent_bit_value(namespace="shop", service="api", log=text, when=datetime.now(UTC))


def stored_logs(url: str, processor: Running) -> int:
    assert processor.thread.is_alive(), "the processor crashed"
    return int(scalar(url, "SELECT count(*) FROM logs"))


def test_huge_records_are_dead_lettered_once_and_the_partition_moves_on(
    migrated: str, kafka_bootstrap: str, kafka_topic: str, dead_topic: str
) -> None:
    create_topic_with(kafka_bootstrap, kafka_topic, {"max.message.bytes": str(8 * MiB)})
    create_topic(kafka_bootstrap, dead_topic, partitions=1)  # the broker's default limits
    one, five = big_value(1 * MiB), big_value(5 * MiB)
    values = [*good_values(100, 1), one, *good_values(100, 2), five, *good_values(100, 3)]
    produce_in_order(kafka_bootstrap, kafka_topic, values)
    settings = settings_for(migrated, kafka_bootstrap, kafka_topic, dead_topic)

    running = Running(build(settings))
    try:
        eventually("300 good records stored", lambda: stored_logs(migrated, running) == 300)
        eventually(
            "2 dead letters", lambda: scalar(migrated, "SELECT count(*) FROM dead_letters") == 2
        )
        assert running.thread.is_alive()
    finally:
        running.stop()
    assert scalar(migrated, "SELECT sum(next_offset) FROM consumer_offsets") == 302

    # A restart continues after them: no dead letter is written again.
    produce_in_order(kafka_bootstrap, kafka_topic, good_values(1, 4))
    running = Running(build(settings))
    try:
        eventually(
            "the record after the restart stored", lambda: stored_logs(migrated, running) == 301
        )
    finally:
        running.stop()

    stored = rows(
        migrated,
        "SELECT reason, source_offset, payload_size, payload FROM dead_letters "
        "ORDER BY source_offset",
    )
    assert [(reason, offset, size) for reason, offset, size, _ in stored] == [
        ("oversized", 100, len(one)),
        ("oversized", 201, len(five)),
    ]
    assert [bytes(payload) for *_, payload in stored] == [one, five], "kept whole in PostgreSQL"

    letters = read_committed(kafka_bootstrap, dead_topic)
    assert len(letters) == 2, "each big record dead-lettered exactly once"
    for message, (original, offset) in zip(letters, [(one, 100), (five, 201)], strict=True):
        headers = dict(message.headers())
        value = message.value()
        assert headers["reason"] == b"oversized"
        assert headers["source"] == f"{kafka_topic}/0/{offset}".encode()
        assert headers["payload-size"] == str(len(original)).encode()
        assert headers["payload-sha256"] == hashlib.sha256(original).hexdigest().encode()
        assert original.startswith(value)
        assert 0 < len(value) < DEAD_LETTER_MESSAGE_MAX


def test_a_dead_letter_its_topic_refuses_is_kept_in_the_database_and_the_partition_moves_on(
    migrated: str, kafka_bootstrap: str, kafka_topic: str, dead_topic: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=1)
    create_topic_with(kafka_bootstrap, dead_topic, {"max.message.bytes": "2048"})
    incompressible = random.Random(5).randbytes(20_000)  # undecodable, and too big for the topic
    values = [*good_values(50, 1), incompressible, b"{not json", *good_values(50, 2)]
    produce_in_order(kafka_bootstrap, kafka_topic, values)

    running = Running(build(settings_for(migrated, kafka_bootstrap, kafka_topic, dead_topic)))
    try:
        eventually("100 good records stored", lambda: stored_logs(migrated, running) == 100)
        eventually(
            "2 dead letters", lambda: scalar(migrated, "SELECT count(*) FROM dead_letters") == 2
        )
    finally:
        running.stop()

    stored = rows(migrated, "SELECT source_offset, detail FROM dead_letters ORDER BY 1")
    assert [offset for offset, _ in stored] == [50, 51]
    assert "not on dead-letter topic" in stored[0][1]
    assert "MSG_SIZE_TOO_LARGE" in stored[0][1]
    assert "not on dead-letter topic" not in stored[1][1]
    letters = read_committed(kafka_bootstrap, dead_topic)
    assert [message.value() for message in letters] == [b"{not json"]


# --- stopping -----------------------------------------------------------------------------------


def processor_process(
    database_url: str, bootstrap: str, topic: str, dead: str, log_path: Path
) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": database_url,
        "LOGSENTINEL_KAFKA_BOOTSTRAP": bootstrap,
        "LOGSENTINEL_KAFKA_TOPIC": topic,
        "LOGSENTINEL_KAFKA_GROUP": f"group-{topic}",
        "LOGSENTINEL_DEAD_LETTER_TOPIC": dead,
        "LOGSENTINEL_BATCH_SIZE": "500",
        "LOGSENTINEL_METRICS_PORT": "0",
        "LOGSENTINEL_MIGRATE_ON_START": "false",
        "LOGSENTINEL_SHUTDOWN_GRACE": f"PT{GRACE_SECONDS}S",
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "logsentinel.cli", "processor"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def log_events(log_path: Path) -> list[dict[str, Any]]:
    events = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def stop_within(process: subprocess.Popen[bytes], bound: float) -> tuple[int, float]:
    """SIGTERM; the exit status and the seconds it took. Fails (and kills) on the bound."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        pytest.fail(f"SIGTERM did not stop the processor within {bound} s")
    return status, time.monotonic() - started


def test_sigterm_with_a_batch_stuck_in_the_database_exits_within_the_grace_period(
    migrated: str, kafka_bootstrap: str, kafka_topic: str, dead_topic: str, tmp_path: Path
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, dead_topic, partitions=1)
    produce(kafka_bootstrap, kafka_topic, [(None, v) for v in good_values(1000, 1)])
    log_path = tmp_path / "processor.log"
    process = processor_process(migrated, kafka_bootstrap, kafka_topic, dead_topic, log_path)
    try:
        eventually("1000 stored", lambda: scalar(migrated, "SELECT count(*) FROM logs") == 1000)
        with psycopg.connect(libpq_url(migrated)) as blocker:
            # Its next write waits for this lock as for a database that stopped answering.
            blocker.execute("LOCK TABLE consumer_offsets IN ACCESS EXCLUSIVE MODE")
            produce(kafka_bootstrap, kafka_topic, [(None, v) for v in good_values(2000, 2)])
            eventually(
                "the processor's write waits on the lock",
                lambda: (
                    scalar(
                        migrated,
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    >= 1
                ),
            )
            status, took = stop_within(process, DID_NOT_HANG)
            blocker.rollback()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    events = log_events(log_path)
    gave_up = [e for e in events if e["event"].startswith("gave up waiting for the shutdown")]
    assert status == 1, f"exit status {status} after {took:.1f} s; log: {log_path}"
    assert len(gave_up) == 1, f"no structured line saying it gave up; log: {log_path}"
    assert gave_up[0]["level"] == "error"
    assert gave_up[0]["reason"] == "grace period over"
    assert any(e["event"].startswith("gave up waiting for the batch in flight") for e in events)

    # Abandoning was safe: the next processor stores the batch, nothing twice.
    settings = settings_for(migrated, kafka_bootstrap, kafka_topic, dead_topic)
    running = Running(build(settings))
    try:
        eventually("3000 stored", lambda: stored_logs(migrated, running) == 3000)
    finally:
        running.stop()
    distinct = "SELECT count(DISTINCT (source_partition, source_offset)) FROM logs"
    assert scalar(migrated, distinct) == 3000


def test_sigterm_while_busy_exits_cleanly(
    migrated: str, kafka_bootstrap: str, kafka_topic: str, dead_topic: str, tmp_path: Path
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, dead_topic, partitions=1)
    total = 40_000
    produce(kafka_bootstrap, kafka_topic, [(None, v) for v in good_values(total, 3)])
    log_path = tmp_path / "processor.log"
    process = processor_process(migrated, kafka_bootstrap, kafka_topic, dead_topic, log_path)
    try:
        eventually("storing", lambda: scalar(migrated, "SELECT count(*) FROM logs") > 0)
        stored_at_signal = scalar(migrated, "SELECT count(*) FROM logs")
        status, took = stop_within(process, DID_NOT_HANG)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert stored_at_signal < total, "the processor had finished before it was signalled"
    events = [e["event"] for e in log_events(log_path)]
    assert status == 0, f"exit status {status} after {took:.1f} s; log: {log_path}"
    assert "processor stopped" in events
    assert not [e for e in events if e.startswith("gave up")]
