"""Detection runs on event time: the same records, once live and once replayed as a backlog
ten minutes later (the processor was down), open identical incidents on the real processor,
Kafka and PostgreSQL.

The traffic: service `heartbeat` logs for 10 s then stops; service `shop` logs for 25 s with a
burst of errors at 12 s, then stops. Rules: a silence of 5 s (every service) and 20 errors in
30 s. Both runs must open the burst and both silences with the same first/last seen times
(relative to the traffic's start) and occurrences. On the wall clock the replay would instead
see every service silent the moment the backlog is read, and date silences by the tick.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from sampledata import fluent_bit_value
from support.kafka import create_topic, produce
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration

LENGTH = timedelta(seconds=25)
PAUSE = timedelta(minutes=10)
Line = tuple[timedelta, str, str]  # offset from the start, service, level


def traffic() -> list[Line]:
    lines: list[Line] = []
    for tenth in range(0, 250, 5):  # every half second
        at = timedelta(seconds=tenth / 10)
        if at < timedelta(seconds=10):
            lines.append((at, "heartbeat", "info"))
        lines.append((at, "shop", "info"))
    burst = timedelta(seconds=12)
    lines += [(burst + timedelta(milliseconds=20 * n), "shop", "error") for n in range(30)]
    return sorted(lines)


def rules(namespace: str) -> list[dict[str, object]]:
    def rule(name: str, spec: dict[str, object]) -> dict[str, object]:
        return {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"severity": "high", "incidentType": name, **spec},
        }

    return [
        rule("silent", {"detector": {"type": "absence", "absence": {"silentFor": "5s"}}}),
        rule(
            "errors",
            {
                "match": {"levels": ["error"]},
                "detector": {"type": "threshold", "threshold": {"count": 20, "window": "30s"}},
            },
        ),
    ]


def encoded(namespace: str, start: datetime, line: Line) -> tuple[bytes, bytes]:
    offset, service, level = line
    message = json.dumps({"level": level, "msg": f"{service} {level} at {offset.total_seconds()}"})
    return (
        f"{namespace}/{service}".encode(),
        fluent_bit_value(namespace=namespace, service=service, log=message, when=start + offset),
    )


def incidents(url: str, namespace: str, start: datetime) -> set[tuple[object, ...]]:
    """(rule, service, first seen, last seen, occurrences), times relative to start."""
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        found = connection.execute(
            "SELECT rule, service, first_seen, last_seen, occurrences FROM incidents"
            " WHERE namespace = %s",
            (namespace,),
        ).fetchall()
    return {
        (rule, service, first - start, last - start, occurrences)
        for rule, service, first, last, occurrences in found
    }


def test_a_backlog_replayed_after_a_pause_opens_the_incidents_live_traffic_opened(
    database_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    directory = tmp_path / "rules"
    directory.mkdir()
    for namespace in ("live", "replay"):
        (directory / f"{namespace}.yaml").write_text(yaml.safe_dump_all(rules(namespace)))
    settings = processor_settings(
        database_url, kafka_bootstrap, kafka_topic, rules_directory=directory
    )
    lines = traffic()
    expected = 3  # the burst, and the silence of each service once it stopped

    running = Running(build(settings))
    try:
        live_start = datetime.now(UTC) + timedelta(seconds=2)
        for line in lines:  # paced as the services would write them
            due = (live_start + line[0] - datetime.now(UTC)).total_seconds()
            if due > 0:
                time.sleep(due)
            produce(kafka_bootstrap, kafka_topic, [encoded("live", live_start, line)])
        eventually(
            "the live incidents",
            lambda: len(incidents(database_url, "live", live_start)) == expected,
            timeout=60,
        )
    finally:
        running.stop()
    live = incidents(database_url, "live", live_start)

    replay_start = datetime.now(UTC) - PAUSE
    produce(kafka_bootstrap, kafka_topic, [encoded("replay", replay_start, line) for line in lines])
    running = Running(build(settings))
    try:
        eventually(
            "the replayed incidents",
            lambda: len(incidents(database_url, "replay", replay_start)) >= expected,
            timeout=60,
        )
    finally:
        running.stop()
    replayed = incidents(database_url, "replay", replay_start)

    assert {(rule, service) for rule, service, *_ in live} == {
        ("live/errors", "shop"),
        ("live/silent", "heartbeat"),
        ("live/silent", "shop"),
    }
    relabelled = {(str(rule).replace("live/", "replay/"), *rest) for rule, *rest in live}
    assert replayed == relabelled


def test_new_pattern_knowledge_survives_a_processor_restart(
    database_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    """A service logged template A two hours ago (its learning hour is long over). After a
    restart the newPattern rule still knows A: A again opens nothing, a new B opens one."""
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    directory = tmp_path / "rules"
    directory.mkdir()
    rule = {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": "new-template", "namespace": "live"},
        "spec": {
            "detector": {"type": "newPattern", "newPattern": {"learningPeriod": "1h"}},
            "severity": "high",
            "incidentType": "NewPattern",
        },
    }
    (directory / "rule.yaml").write_text(yaml.safe_dump(rule))
    settings = processor_settings(
        database_url, kafka_bootstrap, kafka_topic, rules_directory=directory
    )

    def line(message: str, when: datetime) -> tuple[bytes, bytes]:
        value = json.dumps({"level": "info", "msg": message})
        return b"live/shop", fluent_bit_value(
            namespace="live", service="shop", log=value, when=when
        )

    then = datetime.now(UTC) - timedelta(hours=2)
    running = Running(build(settings))
    try:
        produce(
            kafka_bootstrap,
            kafka_topic,
            [line(f"cache warmed for item {n}", then + timedelta(seconds=n)) for n in range(20)],
        )
        eventually("the old lines' templates recorded", lambda: _service_templates(database_url))
    finally:
        running.stop()

    running = Running(build(settings))
    try:
        now = datetime.now(UTC)
        produce(kafka_bootstrap, kafka_topic, [line("cache warmed for item 99", now)])
        produce(kafka_bootstrap, kafka_topic, [line("payment declined: card expired", now)])
        eventually(
            "an incident for the new template",
            lambda: len(incidents(database_url, "live", then)) >= 1,
        )
    finally:
        running.stop()
    (incident,) = incidents(database_url, "live", then)
    assert incident[0] == "live/new-template"
    with psycopg.connect(libpq_url(database_url)) as connection:
        (evidence,) = connection.execute("SELECT evidence FROM incidents").fetchone() or (None,)
    assert evidence["samples"][-1]["message"] == "payment declined: card expired"


def _service_templates(url: str) -> bool:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        row = connection.execute(
            "SELECT count(*) FROM service_templates WHERE namespace = 'live'"
        ).fetchone()
    return bool(row and row[0] >= 1)
