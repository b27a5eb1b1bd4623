"""Pipeline health on real PostgreSQL and Kafka: the verdict on heartbeat rows, and processors
that report their lag per partition (0 when caught up, growing while their writes are blocked)
and take their rows with them when they stop or give partitions up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.health import (
    Heartbeat,
    PartitionLag,
    forget_heartbeats,
    heartbeats,
    pipeline_health,
    write_heartbeats,
)
from logsentinel.storage.urls import libpq_url
from sampledata import sample_logs
from support.kafka import create_topic, produce
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration

BOUND = timedelta(seconds=30)


@pytest.fixture
def migrated(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture
def connection(migrated: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(libpq_url(migrated), autocommit=True) as connection:
        yield connection


# --- the verdict on hand-written rows ----------------------------------------------------------


def test_no_heartbeat_at_all_is_unhealthy(
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    health = pipeline_health(connection, BOUND)
    assert not health.healthy
    assert health.reason == "no processor has reported a heartbeat"
    assert health.partitions == 0

    write_heartbeats(connection, "proc-a", "logs", {0: PartitionLag(0, 0.0)})
    other = pipeline_health(connection, BOUND, topic="audit")
    assert not other.healthy
    assert other.reason == "no processor has reported a heartbeat for topic audit"


def test_fresh_caught_up_heartbeats_are_healthy(
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    write_heartbeats(connection, "proc-a", "logs", {0: PartitionLag(0, 0.0)})
    write_heartbeats(connection, "proc-b", "logs", {1: PartitionLag(5, 0.4), 2: PartitionLag(0, 0)})

    health = pipeline_health(connection, BOUND)

    assert health.healthy
    assert health.reason == (
        "3 partitions reported within the last 15 s; the largest lag is 0.4 s (5 records),"
        " within the bound of 30 s"
    )
    assert (health.max_lag_seconds, health.max_lag_records, health.partitions) == (0.4, 5, 3)


def test_a_stale_heartbeat_names_the_processor_and_partition(
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    write_heartbeats(connection, "proc-a", "logs", {0: PartitionLag(0, 0.0)})
    long_ago = datetime.now(UTC) - timedelta(seconds=42)
    write_heartbeats(connection, "proc-b", "logs", {3: PartitionLag(0, 0.0)}, now=long_ago)

    health = pipeline_health(connection, BOUND)

    assert not health.healthy
    expected = (
        r"processor proc-b last reported partition 3 of topic logs 4[23] s ago;"
        r" heartbeats are stale after 15 s"
    )
    assert re.fullmatch(expected, health.reason), health.reason
    assert pipeline_health(connection, BOUND, stale_after=timedelta(minutes=1)).healthy


def test_lag_over_the_bound_names_the_partition_and_the_bound(
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    write_heartbeats(
        connection,
        "proc-a",
        "logs",
        {1: PartitionLag(40, 31.0), 2: PartitionLag(0, 0.0), 3: PartitionLag(1200, 75.0)},
    )

    health = pipeline_health(connection, BOUND)

    assert not health.healthy
    assert health.reason == (
        "partition 3 of topic logs is 75 s behind (1200 records); the bound is 30 s;"
        " 1 more partition is over the bound"
    )
    assert (health.max_lag_seconds, health.max_lag_records, health.partitions) == (75.0, 1200, 3)
    assert pipeline_health(connection, timedelta(seconds=80)).healthy


def test_rows_follow_partition_ownership(
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    caught_up = PartitionLag(0, 0.0)
    write_heartbeats(connection, "proc-a", "logs", dict.fromkeys([0, 1, 2], caught_up))
    write_heartbeats(connection, "proc-a", "audit", {0: caught_up})

    # A new owner's heartbeat replaces the old owner's rows (a crashed one's included).
    write_heartbeats(connection, "proc-b", "logs", {2: caught_up})
    assert [(b.topic, b.partition, b.consumer) for b in heartbeats(connection, "logs")] == [
        ("logs", 0, "proc-a"),
        ("logs", 1, "proc-a"),
        ("logs", 2, "proc-b"),
    ]

    # A heartbeat drops the consumer's rows of partitions it no longer reports.
    write_heartbeats(connection, "proc-a", "logs", {0: caught_up})
    assert {b.partition for b in heartbeats(connection, "logs")} == {0, 2}

    assert forget_heartbeats(connection, "proc-b", "logs", [2]) == 1
    assert forget_heartbeats(connection, "proc-a", "logs") == 1
    assert heartbeats(connection, "logs") == []
    assert [b.topic for b in heartbeats(connection)] == ["audit"], "other topics untouched"


# --- processors reporting ------------------------------------------------------------------------


def start(database_url: str, bootstrap: str, topic: str) -> Running:
    settings = processor_settings(
        database_url, bootstrap, topic, heartbeat_interval=timedelta(milliseconds=200)
    )
    return Running(build(settings))


def rows_of(url: str, topic: str) -> list[Heartbeat]:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        return heartbeats(connection, topic)


def health_of(url: str, topic: str, max_lag: timedelta = BOUND) -> tuple[bool, str]:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        verdict = pipeline_health(connection, max_lag, topic=topic)
    return verdict.healthy, verdict.reason


def stored_logs(url: str) -> int:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        row = connection.execute("SELECT count(*) FROM logs").fetchone()
    assert row is not None
    return int(row[0])


def logs(count: int, seed: int) -> list[tuple[bytes | None, bytes]]:
    return [(log.key, log.value) for log in sample_logs(count, seed=seed)]


def test_a_processor_reports_its_partitions_caught_up_and_removes_them_when_it_stops(
    migrated: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=3)
    produce(kafka_bootstrap, kafka_topic, logs(300, seed=1))

    running = start(migrated, kafka_bootstrap, kafka_topic)
    consumer = running.processor.consumer_id
    try:
        eventually("300 logs stored", lambda: stored_logs(migrated) == 300)

        def caught_up() -> bool:
            beats = rows_of(migrated, kafka_topic)
            return [(b.partition, b.consumer, b.lag_records, b.lag_seconds) for b in beats] == [
                (partition, consumer, 0, 0.0) for partition in range(3)
            ]

        eventually("every partition reported caught up", caught_up)
        healthy, reason = health_of(migrated, kafka_topic)
        assert healthy, reason
        assert reason.startswith("3 partitions reported within the last 15 s;")
    finally:
        running.stop()

    assert rows_of(migrated, kafka_topic) == [], "a stopped processor leaves no heartbeat"
    assert health_of(migrated, kafka_topic) == (
        False,
        f"no processor has reported a heartbeat for topic {kafka_topic}",
    )


def test_a_processor_whose_writes_are_blocked_reports_a_growing_lag(
    migrated: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    """The test holds the partition's offset row locked, as a stale consumer's transaction
    would: the processor's write waits, and its heartbeats say how long and how much."""
    create_topic(kafka_bootstrap, kafka_topic, partitions=1)
    produce(kafka_bootstrap, kafka_topic, logs(10, seed=2))
    running = start(migrated, kafka_bootstrap, kafka_topic)
    blocker = psycopg.connect(libpq_url(migrated))
    try:
        eventually("10 logs stored", lambda: stored_logs(migrated) == 10)
        eventually(
            "caught up", lambda: [b.lag_records for b in rows_of(migrated, kafka_topic)] == [0]
        )
        blocker.execute("SELECT * FROM consumer_offsets FOR UPDATE")

        produce(kafka_bootstrap, kafka_topic, logs(20, seed=3))

        def lag() -> PartitionLag:
            (beat,) = rows_of(migrated, kafka_topic)
            return PartitionLag(beat.lag_records, beat.lag_seconds)

        eventually("20 records behind", lambda: lag().records == 20)
        first = lag().seconds
        eventually("the lag grows while the write is blocked", lambda: lag().seconds >= first + 1.5)
        assert stored_logs(migrated) == 10

        def over_the_bound() -> bool:
            healthy, reason = health_of(migrated, kafka_topic, max_lag=timedelta(seconds=1))
            pattern = rf"partition 0 of topic {kafka_topic} is [\d.]+ s behind \(20 records\);"
            return not healthy and re.match(pattern, reason) is not None

        eventually("unhealthy with a 1 s bound", over_the_bound)
        assert health_of(migrated, kafka_topic, max_lag=timedelta(minutes=5))[0]

        blocker.rollback()
        eventually("30 logs stored", lambda: stored_logs(migrated) == 30)
        eventually("caught up again", lambda: lag() == PartitionLag(0, 0.0))
        assert health_of(migrated, kafka_topic, max_lag=timedelta(seconds=1))[0]
    finally:
        blocker.close()
        running.stop()


def test_on_rebalance_each_partition_is_reported_by_its_owner_only(
    migrated: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=3)
    produce(kafka_bootstrap, kafka_topic, logs(30, seed=4))

    def reporters() -> dict[int, str]:
        return {b.partition: b.consumer for b in rows_of(migrated, kafka_topic)}

    first = start(migrated, kafka_bootstrap, kafka_topic)
    second: Running | None = None
    try:
        one = first.processor.consumer_id
        eventually("the first owns all", lambda: reporters() == dict.fromkeys(range(3), one))

        second = start(migrated, kafka_bootstrap, kafka_topic)
        two = second.processor.consumer_id
        assert two != one
        eventually(
            "the partitions shared, one row each",
            lambda: set(reporters().values()) == {one, two} and len(reporters()) == 3,
        )
        assert len(rows_of(migrated, kafka_topic)) == 3

        second.stop()
        second = None
        eventually("the first owns all again", lambda: reporters() == dict.fromkeys(range(3), one))
    finally:
        if second is not None:
            second.stop()
        first.stop()
    assert rows_of(migrated, kafka_topic) == []
