"""Backtesting on a real PostgreSQL: a rule replayed over stored logs lists the incidents it
would have opened, with evidence, the same through the library, the CLI and the API; bad
requests get clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from logsentinel.backtest import backtest, narrowed
from logsentinel.cli import main
from logsentinel.domain import Level, LogRecord, SourcePosition
from logsentinel.domain.resources import DetectionRule
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from logsentinel.storage.writer import Batch, LogWriter
from support.api import logged_in_api

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BURST_AT = START + timedelta(minutes=5)


def rule_manifest(count: int = 20) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": "checkout-errors", "namespace": "shop"},
        "spec": {
            "selector": {"services": ["checkout"]},
            "match": {"levels": ["error"]},
            "detector": {"type": "threshold", "threshold": {"count": count, "window": "1m"}},
            "severity": "high",
            "incidentType": "ErrorBurst",
        },
    }


def stored_traffic(url: str) -> int:
    """Ten minutes of two services, one burst of 30 checkout errors at minute 5."""
    records: list[LogRecord] = []
    for second in range(600):
        for service in ("checkout", "search"):
            records.append(line(service, START + timedelta(seconds=second), "request done"))
    records += [
        line("checkout", BURST_AT + timedelta(milliseconds=100 * n), f"payment {n} failed")
        for n in range(30)
    ]
    records += [line("search", BURST_AT, "index failed") for _ in range(30)]  # not selected
    records.sort(key=lambda record: record.timestamp)
    for offset, record in enumerate(records):
        record.source = SourcePosition(topic="logs", partition=0, offset=offset)
    with psycopg.connect(url) as connection:
        LogWriter("processors").write(
            connection,
            Batch(records=records, dead_letters=[], next_offsets={("logs", 0): len(records)}),
        )
    return len(records)


def line(service: str, at: datetime, message: str) -> LogRecord:
    return LogRecord(
        timestamp=at,
        level=Level.ERROR if "failed" in message else Level.INFO,
        message=message,
        service=service,
        namespace="shop",
        pod=f"{service}-7d9f8b6c5d-x2x9k",
    )


@pytest.fixture
def stored(database_url: str) -> str:
    migrate.upgrade(database_url)
    stored_traffic(libpq_url(database_url))
    return database_url


def test_a_backtest_lists_the_incident_the_rule_would_have_opened(stored: str) -> None:
    rule = DetectionRule.model_validate(rule_manifest())
    with psycopg.connect(libpq_url(stored)) as connection:
        result = backtest(connection, [rule], START, START + timedelta(minutes=10))
    assert result.refused == {}
    assert result.records == 30, "only checkout's error lines are read: the rule sees no more"
    (incident,) = result.incidents
    assert incident.rule_id == "shop/checkout-errors"
    assert incident.spec.service == "checkout"
    assert incident.spec.first_seen == BURST_AT + timedelta(milliseconds=100 * 19)
    assert incident.spec.occurrences == 1
    assert [s.message for s in incident.spec.evidence.samples][-1] == "payment 19 failed"

    with psycopg.connect(libpq_url(stored)) as connection:
        quiet = backtest(connection, [rule], START, BURST_AT)
    assert quiet.incidents == [], "nothing before the burst"


def test_the_read_is_narrowed_to_what_the_rules_can_see() -> None:
    threshold = DetectionRule.model_validate(rule_manifest())
    ratio = DetectionRule.model_validate(
        {
            **rule_manifest(),
            "spec": {
                **rule_manifest()["spec"],
                "selector": {},
                "detector": {"type": "ratio", "ratio": {"above": 0.5, "window": "1m"}},
            },
        }
    )
    assert narrowed([threshold], START, BURST_AT).levels == ["error"]
    assert narrowed([threshold], START, BURST_AT).services == ["checkout"]
    both = narrowed([threshold, ratio], START, BURST_AT)
    assert both.levels == (), "a ratio counts every record it selects"
    assert both.services == (), "the ratio rule selects every service of its namespace"
    assert both.namespaces == ["shop"]


def test_the_cli_prints_the_incidents_and_refuses_bad_input(stored: str, tmp_path: Path) -> None:
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(yaml.safe_dump(rule_manifest()))
    runner = CliRunner()
    arguments = ["backtest", "--rule", str(rule_file), "--from", "2026-11-30T09:00:00"]
    done = runner.invoke(
        main, [*arguments, "--to", "2026-11-30T09:10:00", "--json", "--database-url", stored]
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    (incident,) = document["incidents"]
    assert incident["rule"] == "shop/checkout-errors"
    assert incident["evidence"]["samples"]

    backwards = runner.invoke(
        main, [*arguments, "--to", "2026-11-30T08:00:00", "--database-url", stored]
    )
    assert backwards.exit_code == 2
    assert "--from must be before --to" in backwards.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: DetectionRule\napiVersion: logsentinel.io/v1alpha1\n")
    refused = runner.invoke(
        main, ["backtest", "--rule", str(broken), "--from", "2026-11-30", "--database-url", stored]
    )
    assert refused.exit_code == 2
    assert "INVALID" in refused.stderr


def test_the_api_backtests_a_rule_manifest(stored: str) -> None:
    with logged_in_api(stored) as client:
        answer = client.post(
            "/api/v1/rules/backtest",
            json={
                "rule": rule_manifest(),
                "from": START.isoformat(),
                "to": (START + timedelta(minutes=10)).isoformat(),
            },
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [i["service"] for i in body["incidents"]] == ["checkout"]
        assert body["records"] == 30

        backwards = client.post(
            "/api/v1/rules/backtest",
            json={"rule": rule_manifest(), "from": START.isoformat(), "to": START.isoformat()},
        )
        assert backwards.status_code == 400
        assert "before" in backwards.json()["detail"]

        invalid = client.post(
            "/api/v1/rules/backtest",
            json={"rule": rule_manifest(count=0), "from": START.isoformat()},
        )
        assert invalid.status_code == 422
        assert "count" in invalid.text
