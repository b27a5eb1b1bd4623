"""Detection inside the processor on real Kafka and PostgreSQL: rules from a directory, an
error burst opens one incident with evidence, replays and restarts do not open another, the
aggregates are stored, a rule file change takes effect without a restart, and a broken rule
file is refused without stopping anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from prometheus_client import REGISTRY

from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from sampledata import fluent_bit_value
from support.kafka import create_topic, produce
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration


def burst_rule(name: str, count: int, service: str = "checkout") -> dict[str, object]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "selector": {"services": [service]},
            "match": {"levels": ["error"]},
            "detector": {"type": "threshold", "threshold": {"count": count, "window": "1m"}},
            "severity": "high",
            "incidentType": "ErrorBurst",
        },
    }


def error_lines(service: str, count: int, start: datetime) -> list[tuple[bytes, bytes]]:
    return [
        (
            f"shop/{service}".encode(),
            fluent_bit_value(
                namespace="shop",
                service=service,
                log=json.dumps({"level": "error", "msg": f"payment {n} failed: timeout"}),
                when=start + timedelta(milliseconds=10 * n),
            ),
        )
        for n in range(count)
    ]


def start(database_url: str, bootstrap: str, topic: str, rules: Path) -> Running:
    settings = processor_settings(database_url, bootstrap, topic, rules_directory=rules)
    return Running(build(settings))


def rows(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
        return list(connection.execute(query, args).fetchall())  # type: ignore[arg-type]


def test_burst_opens_one_incident_with_evidence_and_restarts_add_none(
    database_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "burst.yaml").write_text(yaml.safe_dump(burst_rule("checkout-errors", 20)))
    (rules / "broken.yaml").write_text("kind: DetectionRule\napiVersion: logsentinel.io/v1alpha1\n")

    firings_before = _sample("logsentinel_rule_firings_total", rule="shop/checkout-errors")
    latencies_before = _sample("logsentinel_detection_latency_seconds_count")
    evaluations_before = _sample("logsentinel_rule_evaluations_total")
    now = datetime.now(UTC)
    produce(kafka_bootstrap, kafka_topic, error_lines("checkout", 50, now))
    produce(kafka_bootstrap, kafka_topic, error_lines("search", 50, now))  # not selected

    running = start(database_url, kafka_bootstrap, kafka_topic, rules)
    try:
        eventually(
            "an incident row",
            lambda: rows(database_url, "SELECT count(*) FROM incidents")[0][0] == 1,
        )
        eventually(
            "all 50 buckets' records counted",
            lambda: (
                rows(
                    database_url,
                    "SELECT coalesce(sum(total), 0) FROM rule_buckets WHERE rule = 'shop/checkout-errors'",
                )[0][0]
                == 50
            ),
        )
    finally:
        running.stop()

    assert _sample("logsentinel_rule_firings_total", rule="shop/checkout-errors") == (
        firings_before + 1
    )
    assert _sample("logsentinel_detection_latency_seconds_count") == latencies_before + 1
    assert _sample("logsentinel_rule_evaluations_total") >= evaluations_before + 50

    (name, service, occurrences, evidence, source_partition, phase) = rows(
        database_url,
        "SELECT name, service, occurrences, evidence, source_partition, phase FROM incidents",
    )[0]
    assert str(name).startswith("checkout-errors-")
    assert service == "checkout"
    assert occurrences == 1, "one burst, one firing"
    assert phase == "Open"
    assert isinstance(evidence, dict)
    assert len(evidence["samples"]) == 20
    assert all("failed: timeout" in sample["message"] for sample in evidence["samples"])
    assert evidence["window"]["value"] == 20
    assert evidence["window"]["statistic"] == "count"
    assert evidence["templateIds"], "template ids of the matching lines"
    offsets = evidence["offsets"]
    assert len(offsets) == 1
    assert offsets[0]["partition"] == source_partition
    assert offsets[0]["lastOffset"] - offsets[0]["firstOffset"] == 19
    events = rows(database_url, "SELECT kind FROM incident_events WHERE incident = %s", name)
    assert events == [("opened",)]

    # A second burst after a restart (the first one is still open): same incident, recurred.
    (rules / "burst.yaml").write_text(yaml.safe_dump(burst_rule("checkout-errors", 20)))
    produce(kafka_bootstrap, kafka_topic, error_lines("checkout", 10, datetime.now(UTC)))
    running = start(database_url, kafka_bootstrap, kafka_topic, rules)
    try:
        eventually(
            "the window reaches 20 again after a restart with a cold window",
            lambda: rows(database_url, "SELECT sum(total) FROM rule_buckets")[0][0] == 60,
        )
        produce(kafka_bootstrap, kafka_topic, error_lines("checkout", 20, datetime.now(UTC)))
        eventually(
            "the open incident recurred instead of a second one",
            lambda: (
                rows(database_url, "SELECT count(*), max(occurrences) FROM incidents")[0] == (1, 2)
            ),
        )
        # A rule change takes effect without a restart: a rule for search, fired by new lines.
        (rules / "search.yaml").write_text(yaml.safe_dump(burst_rule("search-errors", 5, "search")))
        eventually(
            "the new rule is active",
            lambda: "shop/search-errors" in _engine_rules(running),
            timeout=10,
        )
        produce(kafka_bootstrap, kafka_topic, error_lines("search", 5, datetime.now(UTC)))
        eventually(
            "an incident for search",
            lambda: (
                rows(database_url, "SELECT count(*) FROM incidents WHERE service = 'search'")[0][0]
                == 1
            ),
        )
    finally:
        running.stop()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _engine_rules(running: Running) -> list[str]:
    stage = running.processor.stages[0]
    return list(stage.engine.rules)  # type: ignore[attr-defined]


def test_a_new_owner_rebuilds_the_baseline_from_stored_aggregates(
    database_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    """A z-score rule needs three closed windows of history before it can fire. The first
    processor sees the history and stores it as aggregates; a second one, started fresh, only
    sees the spike, so it can only fire if it restored the baseline from the database."""
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=1)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    rules = tmp_path / "rules"
    rules.mkdir()
    zscore = burst_rule("checkout-surge", 1)
    zscore["spec"]["detector"] = {  # type: ignore[index]
        "type": "zscore",
        "zscore": {"sigma": 3, "minCount": 10, "window": "10s", "baseline": "2m"},
    }
    (rules / "zscore.yaml").write_text(yaml.safe_dump(zscore))

    now = datetime.now(UTC)
    history = []
    for window in range(1, 9):  # two errors in each of the last eight 10 s windows
        history += error_lines("checkout", 2, now - timedelta(seconds=10 * window + 5))
    produce(kafka_bootstrap, kafka_topic, history)
    first = start(database_url, kafka_bootstrap, kafka_topic, rules)
    try:
        eventually(
            "the history stored as aggregates",
            lambda: (
                rows(database_url, "SELECT coalesce(sum(matched), 0) FROM rule_buckets")[0][0] == 16
            ),
        )
    finally:
        first.stop()
    assert rows(database_url, "SELECT count(*) FROM incidents")[0][0] == 0

    second = start(database_url, kafka_bootstrap, kafka_topic, rules)
    try:
        eventually(
            "the baseline restored",
            lambda: _restored_windows(second, "shop/checkout-surge") >= 3,
            timeout=30,
        )
        produce(kafka_bootstrap, kafka_topic, error_lines("checkout", 30, datetime.now(UTC)))
        eventually(
            "the spike opens an incident on the new owner",
            lambda: rows(database_url, "SELECT count(*) FROM incidents")[0][0] == 1,
        )
    finally:
        second.stop()
    (evidence,) = rows(database_url, "SELECT evidence FROM incidents")[0]
    assert isinstance(evidence, dict)
    assert evidence["window"]["statistic"] == "zscore"
    assert evidence["window"]["value"] >= 3


def _restored_windows(running: Running, rule: str) -> int:
    stage: object = running.processor.stages[0]
    compiled = stage.engine.rules.get(rule)  # type: ignore[attr-defined]
    if compiled is None:
        return 0
    state = compiled.detector._states.get(("shop", "checkout"))
    return len(state.buckets.closed) if state is not None else 0
