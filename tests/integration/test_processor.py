"""The processor on real Kafka and PostgreSQL: every record stored once, bad records
dead-lettered, a database outage and a kill -9 survived with nothing lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY

from devstack.postgres import Postgres
from devstack.proc import free_port
from logsentinel.processors import metrics
from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from sampledata import fluent_bit_value, sample_logs
from support.kafka import create_topic, produce, read_all
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 20


def count(url: str, query: str) -> int:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        row = connection.execute(query).fetchone()
        assert row is not None
        return int(row[0])


def start_processor(database_url: str, bootstrap: str, topic: str) -> Running:
    settings = processor_settings(database_url, bootstrap, topic, max_record_bytes=64 * 1024)
    return Running(build(settings))


@pytest.fixture
def migrated(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


def garbage(namespace: str = "shop") -> list[tuple[bytes | None, bytes]]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    no_namespace = fluent_bit_value(namespace="shop", service="api", log="x", when=now).replace(
        b'"namespace_name":"shop",', b""
    )
    oversized = fluent_bit_value(namespace=namespace, service="api", log="y" * 70_000, when=now)
    return [
        (None, b"{not json"),
        (None, b"\xff\xfe\x00garbage"),
        (None, no_namespace),
        (None, oversized),
    ]


def test_records_are_stored_once_and_bad_ones_dead_lettered(
    migrated: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=3)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    logs = list(sample_logs(3000))
    produce(kafka_bootstrap, kafka_topic, [(log.key, log.value) for log in logs] + garbage())

    stored_before = REGISTRY.get_sample_value("logsentinel_records_stored_total") or 0
    running = start_processor(migrated, kafka_bootstrap, kafka_topic)
    try:
        eventually("3000 logs stored", lambda: count(migrated, "SELECT count(*) FROM logs") == 3000)
        eventually(
            "4 dead letters", lambda: count(migrated, "SELECT count(*) FROM dead_letters") == 4
        )
    finally:
        running.stop()

    assert count(migrated, "SELECT sum(next_offset) FROM consumer_offsets") == 3004
    assert REGISTRY.get_sample_value("logsentinel_records_stored_total") == stored_before + 3000
    dead_lettered = REGISTRY.get_sample_value(
        "logsentinel_records_dead_lettered_total", {"reason": "oversized"}
    )
    assert dead_lettered is not None
    assert dead_lettered >= 1
    assert count(migrated, "SELECT count(*) FROM logs WHERE template_id IS NULL") == 0
    assert count(migrated, "SELECT count(DISTINCT service) FROM logs") == 5
    assert count(migrated, "SELECT count(*) FROM logs WHERE level = 'error'") > 0
    reasons = count(migrated, "SELECT count(DISTINCT reason) FROM dead_letters")
    assert reasons >= 2, "undecodable, oversized and invalid records have their own reasons"
    dead = read_all(kafka_bootstrap, f"{kafka_topic}-dead", expected=4)
    assert len(dead) == 4
    assert all(dict(m.headers())["reason"] for m in dead)  # type: ignore[attr-defined]

    # A new processor in the same group continues where the data ends: nothing twice.
    produce(
        kafka_bootstrap, kafka_topic, [(log.key, log.value) for log in sample_logs(200, seed=9)]
    )
    running = start_processor(migrated, kafka_bootstrap, kafka_topic)
    try:
        eventually("3200 logs stored", lambda: count(migrated, "SELECT count(*) FROM logs") == 3200)
    finally:
        running.stop()
    assert (
        count(
            migrated,
            "SELECT count(*) FROM (SELECT DISTINCT source_partition, source_offset FROM logs) s",
        )
        == 3200
    )


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A PostgreSQL server this test may stop and start."""
    server = Postgres(name="postgres-outage")
    server.start()
    yield server
    server.stop()


def test_database_outage_pauses_then_resumes_without_loss(
    own_postgres: Postgres, kafka_bootstrap: str, kafka_topic: str
) -> None:
    url = own_postgres.address()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS outage")
        connection.execute("CREATE DATABASE outage")
    url = url.rsplit("/", 1)[0] + "/outage"
    migrate.upgrade(url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=3)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    total = 100_000
    produce(
        kafka_bootstrap, kafka_topic, ((log.key, log.value) for log in sample_logs(total, seed=1))
    )

    running = start_processor(url, kafka_bootstrap, kafka_topic)
    try:
        eventually("mid-stream", lambda: count(url, "SELECT count(*) FROM logs") >= 10_000)
        own_postgres.stop()
        outage_ends = time.monotonic() + OUTAGE_SECONDS

        def outage_over() -> bool:
            assert running.thread.is_alive(), (
                "the processor must not crash while the database is down"
            )
            return time.monotonic() >= outage_ends and metrics.PAUSED._value.get() == 1

        eventually(
            f"a {OUTAGE_SECONDS} s outage, consumption paused", outage_over, OUTAGE_SECONDS + 30
        )
        own_postgres.start()
        eventually(
            f"all {total} stored", lambda: count(url, "SELECT count(*) FROM logs") == total, 180
        )
        eventually("consumption resumed", lambda: metrics.PAUSED._value.get() == 0)
    finally:
        running.stop()
    assert (
        count(
            url,
            "SELECT count(*) FROM (SELECT DISTINCT source_partition, source_offset FROM logs) s",
        )
        == total
    )


def test_kill_9_mid_stream_loses_and_duplicates_nothing(
    migrated: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic, partitions=3)
    total = 100_000
    produce(
        kafka_bootstrap, kafka_topic, [(log.key, log.value) for log in sample_logs(total, seed=3)]
    )
    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": migrated,
        "LOGSENTINEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LOGSENTINEL_KAFKA_TOPIC": kafka_topic,
        "LOGSENTINEL_KAFKA_GROUP": f"group-{kafka_topic}",
        "LOGSENTINEL_DEAD_LETTER_TOPIC": f"{kafka_topic}-dead",
        "LOGSENTINEL_BATCH_SIZE": "500",
        "LOGSENTINEL_METRICS_PORT": "0",
    }
    command = [sys.executable, "-m", "logsentinel.cli", "processor"]

    def processor_process() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)

    first = processor_process()
    try:
        eventually(
            "a third stored", lambda: count(migrated, "SELECT count(*) FROM logs") >= total // 3
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    stored_at_kill = count(migrated, "SELECT count(*) FROM logs")
    assert stored_at_kill < total, "killed too late to prove anything; raise the record count"

    metrics_port = free_port()
    environment["LOGSENTINEL_METRICS_PORT"] = str(metrics_port)
    second = processor_process()

    def scraped() -> dict[str, float]:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        pairs = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
        return {name: float(value) for name, value in pairs}

    try:
        eventually(
            f"{total} stored", lambda: count(migrated, "SELECT count(*) FROM logs") >= total, 240
        )
        eventually(
            "/metrics counts what this process stored",
            lambda: scraped().get("logsentinel_records_stored_total") == total - stored_at_kill,
        )
        assert scraped()["logsentinel_database_up"] == 1.0
    finally:
        second.terminate()
        assert second.wait(timeout=60) == 0, "SIGTERM must stop the processor cleanly"
    assert count(migrated, "SELECT count(*) FROM logs") == total
    assert (
        count(
            migrated,
            "SELECT count(*) FROM (SELECT DISTINCT source_partition, source_offset FROM logs) s",
        )
        == total
    )
