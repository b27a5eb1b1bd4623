"""Hostile rules: patterns a backtracking engine would freeze on, rules reaching into other
tenants' namespaces, and a cooldown hiding an outage that is still going on.

- A: only RE2 patterns anywhere. Every entry point (the domain models, `logsentinel validate`,
  the operator's Ready condition, the API, a processor's rules directory, LogPipeline custom
  parsers) refuses lookaround and backreferences naming the field; RE2 patterns run in linear
  time.
- B: a rule sees the records of its own namespace only; only a rule in the central namespace
  may name others (spec.selector.namespaces) or all of them (spec.selector.allNamespaces).
- C: a firing held back by a cooldown opens the incident when the cooldown ends if the
  condition still holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from logsentinel.cli import main as cli
from logsentinel.detection.engine import RuleEngine
from logsentinel.detection.incident_builder import ChangeKind, IncidentBuilder, IncidentChange
from logsentinel.detection.watermarks import fixed
from logsentinel.domain import InvalidResourceError, parse_manifest
from logsentinel.domain.logrecord import Level, LogRecord, SourcePosition
from logsentinel.domain.pipeline import CustomParser
from logsentinel.domain.resources import DetectionRule
from logsentinel.operator.validation import judge_rule
from logsentinel.parsing.messages import MessageParser
from logsentinel.processors.main import build, custom_parsers
from logsentinel.processors.rules import DirectoryRules
from logsentinel.processors.settings import ProcessorSettings
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from sampledata import fluent_bit_value
from support.kafka import create_topic, produce
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CENTRAL = "logsentinel-system"
NOT_RE2 = [
    pytest.param(r"timeout(?=\s+after)", "lookahead", id="lookahead"),
    pytest.param(r"(?<!retry )failed", "lookbehind", id="lookbehind"),
    pytest.param(r"(\w+) \1", "backreferences", id="backreference"),
]


def rule_document(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "match": {"levels": ["error"]},
            "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
            "severity": "high",
            "incidentType": "ErrorBurst",
            **spec,
        },
    }


def with_pattern(place: str, pattern: str) -> dict[str, Any]:
    if place == "fields":
        return {"fields": [{"field": "message", "op": "regex", "value": pattern}]}
    return {place: pattern}


# --- A: only RE2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "construct"), NOT_RE2)
@pytest.mark.parametrize(
    ("place", "path"),
    [
        ("regex", "spec.match.regex"),
        ("template", "spec.match.template"),
        ("fields", "spec.match.fields[0].value"),
    ],
)
def test_the_domain_refuses_patterns_re2_cannot_run_naming_the_field(
    pattern: str, construct: str, place: str, path: str
) -> None:
    document = rule_document("shop", "sneaky", match=with_pattern(place, pattern))
    with pytest.raises(InvalidResourceError) as raised:
        parse_manifest(document)
    problems = {problem.path: problem.message for problem in raised.value.problems}
    assert path in problems, raised.value
    assert f"RE2 does not support {construct}" in problems[path]


def test_logsentinel_validate_refuses_a_lookahead(tmp_path: Path) -> None:
    manifest = tmp_path / "rule.yaml"
    manifest.write_text(yaml.safe_dump(rule_document("shop", "ahead", match={"regex": "a(?=b)"})))
    result = CliRunner().invoke(cli, ["validate", str(manifest)])
    assert result.exit_code == 1
    assert "spec.match.regex: RE2 does not support lookahead" in result.output


def test_the_operator_reports_a_lookahead_rule_not_ready() -> None:
    judgement = judge_rule(rule_document("shop", "ahead", match={"regex": "a(?=b)"}))
    assert not judgement.valid
    assert "spec.match.regex: RE2 does not support lookahead" in judgement.message


def test_the_api_refuses_a_backreference_and_stores_nothing(
    database_url: str, tmp_path: Path
) -> None:
    settings = ApiSettings(
        database_url=database_url,
        jwt_secret="hostile-detection-" + "x" * 40,
        admin_username="root",
        admin_password="correct horse battery staple",
        manifests_directory=tmp_path / "manifests",
        kafka_bootstrap=None,
    )
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login",
            json={"username": "root", "password": "correct horse battery staple"},
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        spec = rule_document("shop", "x", match={"regex": r"(\w+) \1"})["spec"]
        answer = client.put("/api/v1/rules/shop/echo", json=spec)
        assert answer.status_code == 422, answer.text
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["body", "match", "regex"]
        assert "RE2 does not support backreferences" in problem["msg"]
        assert client.get("/api/v1/rules").json() == []


def test_a_processors_rules_directory_refuses_a_lookahead_rule_and_keeps_the_others(
    tmp_path: Path,
) -> None:
    (tmp_path / "ahead.yaml").write_text(
        yaml.safe_dump(rule_document("shop", "ahead", match={"regex": "(?=(a+)+$)"}))
    )
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(rule_document("shop", "plain")))
    loaded = DirectoryRules(tmp_path).latest()
    assert loaded is not None
    assert [rule.metadata.name for rule in loaded.rules] == ["plain"]
    assert list(loaded.refused) == [str(tmp_path / "ahead.yaml")]
    assert (
        "spec.match.regex: RE2 does not support lookahead"
        in loaded.refused[str(tmp_path / "ahead.yaml")]
    )


def test_logpipeline_custom_parsers_refuse_lookbehind_and_keep_named_groups(
    tmp_path: Path,
) -> None:
    pipeline = yaml.safe_load((EXAMPLES / "logpipeline.yaml").read_text())
    pipeline["spec"]["processors"]["customParsers"] = [
        {"name": "behind", "regex": r"(?<=user=)(?P<user>\w+)"}
    ]
    with pytest.raises(InvalidResourceError) as raised:
        parse_manifest(pipeline)
    [problem] = raised.value.problems
    assert problem.path == "spec.processors.customParsers[0].regex"
    assert "RE2 does not support lookbehind" in problem.message

    # A parsers file written before patterns were RE2 only: the bad entry is skipped, loudly,
    # and the processor starts with the others.
    parsers_file = tmp_path / "parsers.yaml"
    parsers_file.write_text(
        yaml.safe_dump(
            [
                {"name": "behind", "regex": r"(?<=u=)(?P<u>\w+)"},
                {"name": "plain", "regex": r"u=(?P<u>\w+)"},
            ]
        )
    )
    settings = ProcessorSettings(
        database_url="postgresql://unused",
        kafka_bootstrap="unused:9092",
        custom_parsers_file=parsers_file,
    )
    with capture_logs() as logged:
        loaded = custom_parsers(settings)
    assert [parser.name for parser in loaded] == ["plain"]
    [refusal] = [entry for entry in logged if entry["log_level"] == "error"]
    assert refusal["problem"].startswith("[0].regex: RE2 does not support lookbehind")

    named = CustomParser(name="login", regex=r"user=(?P<user>\w+) took (?<ms>\d+)ms")
    parsed = MessageParser([named]).parse("login user=alice took 42ms")
    assert parsed.attributes == {"user": "alice", "ms": 42}


def record(seconds: float, message: str, *, namespace: str = "shop") -> LogRecord:
    return LogRecord(
        timestamp=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(seconds=seconds),
        level=Level.ERROR,
        message=message,
        service="checkout",
        namespace=namespace,
        pod="checkout-7d9f8b6c5d-x2x9k",
        source=SourcePosition(topic="logs", partition=0, offset=int(seconds)),
    )


def test_a_catastrophic_pattern_runs_in_linear_time_on_rules_and_parsers() -> None:
    """(a+)+$ against aaaa...! is exponential for a backtracking engine; RE2 is linear."""
    line = "a" * 5000 + "!"
    engine = RuleEngine()
    rules = [
        DetectionRule.from_manifest(rule_document("shop", "evil", match={"regex": r"(a+)+$"})),
        DetectionRule.from_manifest(
            rule_document(
                "shop",
                "evil-field",
                match={"fields": [{"field": "message", "op": "regex", "value": r"^(a|aa)+$"}]},
            )
        ),
    ]
    assert engine.set_rules(rules).refused == {}
    parser = MessageParser([CustomParser(name="evil", regex=r"^(?P<x>(a+)+)$")])
    started = time.perf_counter()
    for second in range(20):
        assert engine.observe([record(second, line)]) == []
        assert parser.parse(line).format == "plain"
    assert time.perf_counter() - started < 10, "did not hang"


# --- B: a rule sees its own namespace --------------------------------------------------------


def error_lines(namespace: str, count: int) -> list[tuple[bytes, bytes]]:
    start = datetime.now(UTC)
    return [
        (
            f"{namespace}/checkout".encode(),
            fluent_bit_value(
                namespace=namespace,
                service="checkout",
                log=json.dumps({"level": "error", "msg": f"payment {n} failed: timeout"}),
                when=start + timedelta(milliseconds=10 * n),
            ),
        )
        for n in range(count)
    ]


def incidents(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(database_url), connect_timeout=3) as connection:
        rows = connection.execute("SELECT namespace, rule FROM incidents ORDER BY 1, 2").fetchall()
    return [(str(namespace), str(rule)) for namespace, rule in rows]


@pytest.fixture
def rules_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    return directory


@pytest.fixture
def processor(
    database_url: str, kafka_bootstrap: str, kafka_topic: str, rules_directory: Path
) -> Iterator[Running]:
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=1)  # one partition: one order
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    settings = processor_settings(
        database_url,
        kafka_bootstrap,
        kafka_topic,
        rules_directory=rules_directory,
        central_namespace=CENTRAL,
    )
    running = Running(build(settings))
    try:
        yield running
    finally:
        running.stop()


def active_rules(running: Running) -> list[str]:
    stage: Any = running.processor.stages[0]
    return sorted(stage.engine.rules)


def test_rules_see_their_own_namespace_unless_central_and_explicit(
    processor: Running,
    rules_directory: Path,
    database_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
) -> None:
    documents = {
        "team-a.yaml": rule_document("team-a", "errors"),  # no selector: team-a only
        "team-c.yaml": rule_document("team-c", "reach", selector={"namespaces": ["team-b"]}),
        "central.yaml": rule_document(CENTRAL, "b-watch", selector={"namespaces": ["team-b"]}),
        "every.yaml": rule_document(CENTRAL, "every", selector={"allNamespaces": True}),
        "ahead.yaml": rule_document("team-a", "ahead", match={"regex": "(?=(a+)+$)"}),
    }
    for file_name, document in documents.items():
        (rules_directory / file_name).write_text(yaml.safe_dump(document))
    eventually(
        "the processor loaded the rules it accepts",
        lambda: (
            active_rules(processor) == [f"{CENTRAL}/b-watch", f"{CENTRAL}/every", "team-a/errors"]
        ),
        timeout=30,
    )
    # team-b first, then team-a, on one partition: once team-a's incident is stored, every
    # rule has seen team-b's records (and the writer stores incidents in order).
    produce(kafka_bootstrap, kafka_topic, error_lines("team-b", 20))
    produce(kafka_bootstrap, kafka_topic, error_lines("team-a", 20))
    eventually(
        "team-a's rule fires for team-a",
        lambda: ("team-a", "team-a/errors") in incidents(database_url),
    )
    eventually(
        "the central rule watching every namespace fires for both",
        lambda: len(incidents(database_url)) >= 4,
    )
    assert incidents(database_url) == [
        ("team-a", f"{CENTRAL}/every"),
        ("team-a", "team-a/errors"),
        ("team-b", f"{CENTRAL}/b-watch"),
        ("team-b", f"{CENTRAL}/every"),
    ], "team-a's and team-c's rules must not open incidents in team-b"
    assert processor.thread.is_alive()


def test_the_operator_reports_a_rule_reaching_into_another_namespace_not_ready() -> None:
    reach = judge_rule(rule_document("team-c", "reach", selector={"namespaces": ["team-b"]}))
    assert (reach.valid, reach.reason) == (False, "NamespaceNotAllowed")
    assert reach.message.startswith("spec.selector.namespaces: ")
    assert "team-b" in reach.message
    every = judge_rule(rule_document("team-c", "every", selector={"allNamespaces": True}))
    assert (every.valid, every.reason) == (False, "NamespaceNotAllowed")
    assert every.message.startswith("spec.selector.allNamespaces: ")
    central = rule_document("ops", "b-watch", selector={"namespaces": ["team-b"]})
    assert judge_rule(central, central_namespace="ops").valid
    own = rule_document("team-c", "own", selector={"namespaces": ["team-c"]})
    assert judge_rule(own).valid


# --- C: a cooldown never hides a condition that still holds ---------------------------------


def test_a_silence_that_starts_inside_a_cooldown_is_reported_when_it_ends() -> None:
    """A false silence opens and resolves an incident; the real outage starts inside the
    cooldown and goes on. The absence detector fires once per crossing, so the one firing the
    cooldown held back is all there will ever be: it must open an incident when the cooldown
    ends, since the service is still silent."""
    rule = DetectionRule.from_manifest(
        rule_document(
            "shop",
            "checkout-silent",
            match={},
            detector={"type": "absence", "absence": {"silentFor": "30s"}},
            cooldown="10m",
            autoResolveAfter="1m",
            incidentType="ServiceSilent",
        )
    )
    engine = RuleEngine()
    engine.set_rules([rule])
    builder = IncidentBuilder(engine.ongoing)
    changes: list[IncidentChange] = []
    start = datetime(2026, 1, 5, tzinfo=UTC)

    def run(seconds: range, logging: bool) -> None:
        for second in seconds:
            now = start + timedelta(seconds=second)
            detections = engine.observe([record(second, "heartbeat")]) if logging else []
            detections += engine.tick(fixed(now))
            for detection in detections:
                change = builder.on_detection(detection)
                if change is not None:
                    changes.append(change)
            changes.extend(builder.tick(fixed(now), lambda _rule: rule.spec.auto_resolve_after))

    run(range(60), logging=True)
    run(range(60, 120), logging=False)  # a hiccup: 60 s without a line
    run(range(120, 240), logging=True)  # back; the false incident resolves
    assert [change.kind for change in changes] == [ChangeKind.OPENED, ChangeKind.RESOLVED]
    resolved_at = changes[-1].at
    run(range(240, 1200), logging=False)  # the real outage, starting inside the cooldown
    kinds = [change.kind for change in changes]
    assert kinds == [ChangeKind.OPENED, ChangeKind.RESOLVED, ChangeKind.OPENED], kinds
    reopened = changes[-1]
    assert reopened.at >= resolved_at + rule.spec.cooldown
    assert reopened.incident.spec.first_seen < reopened.at, "dated from the held-back firing"
    assert builder.open, "still open: the service is still silent"
