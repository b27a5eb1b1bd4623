"""Hostile clocks and a hostile reader against the processor, storage and ingest (real Kafka and
PostgreSQL).

A record's own time is only believed inside a window around its arrival (7 days back, 10
minutes ahead by default); outside it the record is stored at its collector's or arrival time
and says so in ``logsentinel.original_time`` / ``logsentinel.time_replaced``. So ``"time":
0.25``, years 2199 and 2999 and 3000 distinct days neither vanish into retention nor create a
partition each, and one far-future line cannot keep silence detection quiet. Partitions are
created ahead of time by maintenance with ATTACH PARTITION (SHARE UPDATE EXCLUSIVE on ``logs``)
under a lock timeout, and retention detaches concurrently, so a reader transaction left open
on ``logs`` stalls neither the processor nor the queries that come after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from confluent_kafka import Producer

from logsentinel.domain.logrecord import LogRecord
from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.partitions import existing_partitions
from logsentinel.storage.urls import libpq_url
from logsentinel.storage.writer import Batch, LogWriter
from sampledata import fluent_bit_value
from support.api import logged_in_api
from support.kafka import create_topic
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration

INGEST_HEADERS = [("logsentinel-format", b"logrecord.v1")]
MAX_AGE = timedelta(days=7)  # the default window: the processors' retention
MAX_LEAD = timedelta(minutes=10)
CLOCK_SLACK = timedelta(minutes=1)  # between the test's clock readings and the processor's
ORIGINAL = "logsentinel.original_time"
REPLACED = "logsentinel.time_replaced"


@pytest.fixture
def url(database_url: str) -> str:
    migrate.upgrade(database_url)
    return libpq_url(database_url)


@pytest.fixture
def topic(kafka_bootstrap: str, kafka_topic: str) -> str:
    create_topic(kafka_bootstrap, kafka_topic, partitions=1)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    return kafka_topic


def processor(url: str, bootstrap: str, topic: str, rules: Path | None = None) -> Running:
    settings = processor_settings(url, bootstrap, topic, rules_directory=rules)
    return Running(build(settings))


@pytest.fixture
def running(url: str, kafka_bootstrap: str, topic: str) -> Iterator[list[Running]]:
    """Processors a test starts; stopped at the end (after the test released its locks)."""
    started: list[Running] = []
    yield started
    for each in started:
        each.stop()


def send(bootstrap: str, topic: str, values: list[bytes], headers: list[Any] | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for value in values:
        while True:
            try:
                producer.produce(topic, key=b"shop/checkout", value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0


def line(**fields: Any) -> bytes:
    """A Fluent Bit record (collector time: now) whose log line is the JSON of fields."""
    return fluent_bit_value(
        namespace="shop", service="checkout", log=json.dumps(fields), when=datetime.now(UTC)
    )


def ingested(**fields: Any) -> bytes:
    document = {"message": "from the API", "service": "checkout", "namespace": "shop"}
    return json.dumps({**document, **fields}).encode()


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=3) as connection:
        return list(connection.execute(query, args).fetchall())  # type: ignore[arg-type]


def count(url: str, query: str, *args: Any) -> int:
    return int(rows(url, query, *args)[0][0])


def partition_days(url: str) -> list[date]:
    with psycopg.connect(url, connect_timeout=3) as connection:
        return existing_partitions(connection)


def window_days(now: datetime) -> set[date]:
    """Every day an accepted record (or its replacement time) can fall on, and tomorrow."""
    first = (now - MAX_AGE - CLOCK_SLACK).date()
    last = (now + MAX_LEAD + CLOCK_SLACK).date() + timedelta(days=1)
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def create_partition(url: str, day: date) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE logs_{day:%Y%m%d} PARTITION OF logs "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
        )


def test_absurd_times_are_stored_at_arrival_time_and_say_so(
    url: str, kafka_bootstrap: str, topic: str, running: list[Running]
) -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    before = datetime.now(UTC)
    send(
        kafka_bootstrap,
        topic,
        [
            line(time=0.25, msg="a quarter second after the epoch"),
            line(time="2199-06-01T00:00:00Z", msg="two centuries ahead"),
            line(time="2999-01-01T00:00:00Z", msg="a millennium ahead"),
            line(time=an_hour_ago.isoformat(), msg="an honest hour ago"),
            fluent_bit_value(
                namespace="shop",
                service="checkout",
                log="the collector's clock is wrong",
                when=datetime(2199, 6, 1, tzinfo=UTC),
            ),
        ],
    )
    send(
        kafka_bootstrap,
        topic,
        [ingested(timestamp="2999-01-01T00:00:00Z"), ingested(timestamp=0.25, message="epoch")],
        INGEST_HEADERS,
    )
    running.append(processor(url, kafka_bootstrap, topic))
    eventually("7 records stored", lambda: count(url, "SELECT count(*) FROM logs") == 7)
    after = datetime.now(UTC)

    stored = {
        message: (ts, attributes)
        for message, ts, attributes in rows(url, "SELECT message, ts, attributes FROM logs")
    }
    assert count(url, "SELECT count(*) FROM dead_letters") == 0
    honest_time, honest_attributes = stored.pop("an honest hour ago")
    assert honest_time == an_hour_ago, "a time inside the window is kept"
    assert ORIGINAL not in honest_attributes
    originals = {
        "a quarter second after the epoch": 0.25,
        "two centuries ahead": "2199-06-01T00:00:00Z",
        "a millennium ahead": "2999-01-01T00:00:00Z",
        "from the API": "2999-01-01T00:00:00Z",
        "epoch": 0.25,
    }
    for message, (ts, attributes) in stored.items():
        assert before - CLOCK_SLACK <= ts <= after + CLOCK_SLACK, (message, ts)
        assert attributes.get(REPLACED), (message, attributes)
        if message in originals:
            assert attributes[ORIGINAL] == originals[message], message
        else:
            assert str(attributes[ORIGINAL]).startswith("2199-06-01"), message
    assert set(partition_days(url)) <= window_days(after)


def test_three_thousand_distinct_days_do_not_make_three_thousand_partitions(
    url: str, kafka_bootstrap: str, topic: str, running: list[Running]
) -> None:
    now = datetime.now(UTC)
    days = [
        datetime(2000, 1, 1, 12, tzinfo=UTC) + timedelta(days=n)
        if n % 2
        else now + timedelta(days=1 + n)
        for n in range(3000)
    ]
    send(
        kafka_bootstrap,
        topic,
        [line(time=day.isoformat(), msg=f"day {n}") for n, day in enumerate(days)],
    )
    running.append(processor(url, kafka_bootstrap, topic))
    eventually(
        "3000 records stored",
        lambda: count(url, "SELECT count(*) FROM logs") == 3000,
        timeout=180,
    )
    after = datetime.now(UTC)
    assert set(partition_days(url)) <= window_days(after)
    assert count(url, f"SELECT count(*) FROM logs WHERE attributes ? '{REPLACED}'") == 3000
    assert (
        count(url, "SELECT count(*) FROM logs WHERE ts BETWEEN %s AND %s", now - CLOCK_SLACK, after)
        == 3000
    ), "every record is inside the window, so retention has nothing of it to drop"


def test_partitions_are_made_ahead_and_those_beyond_the_future_edge_dropped(
    url: str, kafka_bootstrap: str, topic: str, running: list[Running]
) -> None:
    today = datetime.now(UTC).date()
    beyond = [today + timedelta(days=30), date(2199, 6, 1)]
    old = today - timedelta(days=30)
    for day in [*beyond, old]:
        create_partition(url, day)
    running.append(processor(url, kafka_bootstrap, topic))

    def maintained() -> bool:
        days = set(partition_days(url))
        return {today, today + timedelta(days=1)} <= days and not days & {*beyond, old}

    eventually("today and tomorrow made, future and old partitions dropped", maintained)
    assert set(partition_days(url)) <= window_days(datetime.now(UTC))
    assert count(
        url, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'logs\\_2%%'"
    ) == len(partition_days(url)), "dropped partitions leave no detached table behind"


def test_an_open_reader_stalls_neither_the_processor_nor_other_queries(
    url: str, kafka_bootstrap: str, topic: str, running: list[Running]
) -> None:
    old = datetime.now(UTC).date() - timedelta(days=30)
    create_partition(url, old)  # for retention to drop while the reader holds it
    reader = psycopg.connect(url)
    try:
        reader.execute("SELECT count(*) FROM logs").fetchone()  # the transaction stays open
        send(kafka_bootstrap, topic, [line(msg=f"record {n}") for n in range(100)])
        running.append(processor(url, kafka_bootstrap, topic))

        def stored_while_queries_pass() -> bool:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as probe:
                probe.execute("SET lock_timeout = '3s'")
                # a query queued behind a DDL on logs fails here with a lock timeout
                stored = probe.execute("SELECT count(*) FROM logs").fetchone()
                waiting = probe.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE NOT l.granted AND c.relname LIKE 'logs%%'"
                ).fetchone()
            assert waiting == (0,), "nothing waits for a lock on logs"
            return stored == (100,)

        eventually("100 records stored past the open reader", stored_while_queries_pass, timeout=30)

        def retention_tried() -> bool:
            pending = rows(
                url,
                "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE c.relname = %s AND NOT i.inhdetachpending",
                f"logs_{old:%Y%m%d}",
            )
            return pending == [(0,)] and stored_while_queries_pass()

        eventually("the old partition detached (pending) around the reader", retention_tried)
    finally:
        reader.close()


def test_a_day_without_a_partition_is_made_on_demand_past_an_open_reader(url: str) -> None:
    reader = psycopg.connect(url)
    try:
        reader.execute("SELECT count(*) FROM logs").fetchone()  # the transaction stays open
        with psycopg.connect(url) as connection:
            connection.execute("SET lock_timeout = '5s'")  # a DDL queued behind the reader fails
            connection.commit()
            record = LogRecord(timestamp=datetime.now(UTC), message="m", service="checkout")
            result = LogWriter("hostile").write(connection, Batch(records=[record]))
        assert result.stored == 1
        assert count(url, "SELECT count(*) FROM logs") == 1
    finally:
        reader.close()


def test_one_far_future_line_does_not_blind_silence_detection(
    url: str, kafka_bootstrap: str, topic: str, running: list[Running], tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": "checkout-silent", "namespace": "shop"},
        "spec": {
            "selector": {"services": ["checkout"]},
            "match": {"regex": "heartbeat ok"},
            "detector": {"type": "absence", "absence": {"silentFor": "2s", "minPriorCount": 3}},
            "severity": "critical",
            "incidentType": "ServiceSilent",
        },
    }
    (rules / "silent.yaml").write_text(yaml.safe_dump(rule))
    now = datetime.now(UTC)
    beats = [line(time=now.isoformat(), msg="heartbeat ok") for _ in range(5)]
    send(kafka_bootstrap, topic, [*beats, line(time="2199-01-01T00:00:00Z", msg="heartbeat ok")])
    running.append(processor(url, kafka_bootstrap, topic, rules))
    eventually("6 heartbeats stored", lambda: count(url, "SELECT count(*) FROM logs") == 6)
    eventually(
        "the silence is detected",
        lambda: (
            count(url, "SELECT count(*) FROM incidents WHERE rule = 'shop/checkout-silent'") == 1
        ),
    )


def test_ingest_corrects_times_outside_the_window(database_url: str) -> None:
    migrate.upgrade(database_url)
    url = libpq_url(database_url)
    base = {"service": "checkout", "namespace": "shop"}
    body = "\n".join(
        json.dumps({**base, **fields})
        for fields in (
            {"timestamp": "2999-01-01T00:00:00Z", "message": "year 2999"},
            {"timestamp": 0.25, "message": "epoch"},
            {"timestamp": datetime.now(UTC).isoformat(), "message": "now"},
        )
    )
    before = datetime.now(UTC)
    with logged_in_api(database_url) as client:
        answer = client.post(
            "/api/v1/ingest", content=body, headers={"Content-Type": "application/x-ndjson"}
        )
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"accepted": 3, "rejected": []}
    after = datetime.now(UTC)
    stored = {m: (ts, a) for m, ts, a in rows(url, "SELECT message, ts, attributes FROM logs")}
    assert set(stored) == {"year 2999", "epoch", "now"}
    for message, (ts, attributes) in stored.items():
        assert before - CLOCK_SLACK <= ts <= after, message
        assert (REPLACED in attributes) == (message != "now"), message
    assert stored["year 2999"][1][ORIGINAL].startswith("2999-01-01")
    assert stored["epoch"][1][ORIGINAL].startswith("1970-01-01")
