"""Rule engine and incident builder on deterministic record streams (no servers)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logsentinel.detection.engine import RuleEngine, rule_id
from logsentinel.detection.incident_builder import ChangeKind, IncidentBuilder, fingerprint
from logsentinel.detection.matching import compile_condition, compile_key, compile_match
from logsentinel.detection.watermarks import fixed
from logsentinel.domain.incident import MAX_SAMPLES
from logsentinel.domain.logrecord import Level, LogRecord, SourcePosition
from logsentinel.domain.resources import DetectionRule
from logsentinel.domain.rule import FieldCondition, Match

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(
    seconds: float,
    message: str = "payment failed: timeout",
    *,
    level: Level = Level.ERROR,
    service: str = "checkout",
    namespace: str = "shop",
    offset: int = 0,
    partition: int = 0,
    template_id: str | None = "t-timeout",
    pod: str = "checkout-7d9f8b6c5d-x2x9k",
    **attributes: Any,
) -> LogRecord:
    return LogRecord(
        timestamp=at(seconds),
        level=level,
        message=message,
        service=service,
        namespace=namespace,
        pod=pod,
        template_id=template_id,
        attributes=attributes,
        source=SourcePosition(topic="logs", partition=partition, offset=offset),
    )


def rule(name: str = "errors", **spec: Any) -> DetectionRule:
    document = {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "match": {"levels": ["error"]},
            "detector": {"type": "threshold", "threshold": {"count": 3, "window": "1m"}},
            "severity": "high",
            "incidentType": "ErrorBurst",
            **spec,
        },
    }
    return DetectionRule.from_manifest(document)


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "attributes.status", "op": "gte", "value": "500"}, True),
        ({"field": "attributes.status", "op": "lt", "value": "500"}, False),
        ({"field": "attributes.status", "op": "in", "values": ["502", "503"]}, True),
        ({"field": "attributes.status", "op": "notIn", "values": ["502", "503"]}, False),
        ({"field": "attributes.missing", "op": "notExists"}, True),
        ({"field": "attributes.missing", "op": "gt", "value": "1"}, False),
        ({"field": "attributes.path", "op": "regex", "value": "^/api/v[0-9]+/"}, True),
        ({"field": "level", "op": "equals", "value": "error"}, True),
        ({"field": "pod", "op": "notEquals", "value": "other"}, True),
        ({"field": "attributes.path", "op": "exists"}, True),
    ],
)
def test_field_conditions(condition: dict[str, Any], expected: bool) -> None:
    test = compile_condition(FieldCondition.model_validate(condition))
    assert test(record(0, status=503, path="/api/v1/orders")) is expected


def test_match_parts_are_anded_and_template_text_is_looked_up() -> None:
    texts = {"t-timeout": "payment failed: <*>"}
    match = Match.model_validate(
        {"levels": ["error"], "regex": "fail", "template": r"^payment failed: <\*>$"}
    )
    test = compile_match(match, texts.get)
    assert test(record(0))
    assert not test(record(0, level=Level.WARN)), "level is part of the match"
    assert not test(record(0, "all good")), "regex is part of the match"
    assert not test(record(0, template_id="unknown")), "unknown template text does not match"
    assert compile_match(Match(), texts.get)(record(0, level=Level.DEBUG)), "empty matches all"


def test_group_key_from_fields_and_attributes() -> None:
    key_of = compile_key(["namespace", "service", "attributes.route", "template"])
    assert key_of(record(0, route="/pay")) == ("shop", "checkout", "/pay", "t-timeout")
    assert key_of(record(0)) == ("shop", "checkout", "", "t-timeout"), "absent is empty"


# --- engine ------------------------------------------------------------------------------------


def test_engine_fires_once_with_evidence() -> None:
    engine = RuleEngine()
    engine.set_rules([rule()])
    records = [record(i, offset=10 + i) for i in range(30)]
    records.insert(1, record(0.5, "fine", level=Level.INFO, offset=99))
    detections = engine.observe(records)
    assert len(detections) == 1, "a burst fires once"
    found = detections[0]
    assert found.rule_id == "shop/errors"
    assert found.key == ("shop", "checkout")
    assert found.firing.at == at(2), "fires on the third error"
    evidence = found.evidence
    assert len(evidence.samples) == 3
    assert all(s.level == Level.ERROR for s in evidence.samples)
    assert evidence.template_ids == ["t-timeout"]
    assert [(o.partition, o.first_offset, o.last_offset) for o in evidence.offsets] == [(0, 10, 12)]
    assert evidence.window is not None
    assert evidence.window.value == 3
    assert evidence.window.start == at(2) - timedelta(minutes=1)
    assert found.pod == "checkout-7d9f8b6c5d-x2x9k"
    assert found.partition == ("logs", 0)


def test_evidence_keeps_the_latest_samples_only() -> None:
    engine = RuleEngine()
    engine.set_rules([rule(detector={"type": "threshold", "threshold": {"count": 40}})])
    detections = engine.observe([record(i, f"error {i}", offset=i) for i in range(40)])
    samples = detections[0].evidence.samples
    assert len(samples) == MAX_SAMPLES
    assert samples[-1].message == "error 39"
    assert samples[0].message == "error 20"


def test_selector_and_services_keep_windows_apart() -> None:
    engine = RuleEngine()
    engine.set_rules([rule(selector={"services": ["checkout", "payments"]})])
    mixed = [record(i, service=s) for i in range(2) for s in ("checkout", "payments", "search")]
    assert engine.observe(mixed) == [], "two errors each: below 3"
    fired = engine.observe([record(3, service="payments"), record(3, service="search")])
    assert [d.service for d in fired] == ["payments"], "search is not selected"


def in_namespace(namespace: str, name: str = "errors", **spec: Any) -> DetectionRule:
    document = rule(name, **spec).to_wire()
    document["metadata"]["namespace"] = namespace
    return DetectionRule.from_manifest(document)


def test_a_rule_sees_the_records_of_its_own_namespace_only() -> None:
    engine = RuleEngine()
    engine.set_rules([rule()])  # in shop, no namespaces in its selector
    assert engine.observe([record(i, namespace="other") for i in range(5)]) == []
    assert [d.namespace for d in engine.observe([record(i) for i in range(3)])] == ["shop"]


def test_only_rules_in_the_central_namespace_watch_other_namespaces() -> None:
    engine = RuleEngine(central_namespace="ops")
    changes = engine.set_rules(
        [
            rule("reach", selector={"namespaces": ["other"]}),
            rule("everywhere", selector={"allNamespaces": True}),
            in_namespace("ops", "watch-other", selector={"namespaces": ["other"]}),
            in_namespace("ops", "watch-all", selector={"allNamespaces": True}),
        ]
    )
    assert sorted(changes.refused) == ["shop/everywhere", "shop/reach"]
    assert changes.refused["shop/reach"].startswith("spec.selector.namespaces: ")
    assert changes.refused["shop/everywhere"].startswith("spec.selector.allNamespaces: ")
    fired = engine.observe(
        [record(i, namespace=ns) for i in range(3) for ns in ("other", "shop", "ops")]
    )
    assert sorted((d.rule_id, d.namespace) for d in fired) == [
        ("ops/watch-all", "ops"),
        ("ops/watch-all", "other"),
        ("ops/watch-all", "shop"),
        ("ops/watch-other", "other"),
    ]


def test_set_rules_keeps_state_of_unchanged_rules_and_resets_changed_ones() -> None:
    engine = RuleEngine()
    engine.set_rules([rule("a"), rule("b")])
    engine.observe([record(0), record(1)])
    changes = engine.set_rules([rule("a"), rule("b", severity="critical")])
    assert changes.started == ["shop/b"]
    assert changes.stopped == ["shop/b"]
    fired = engine.observe([record(2)])
    assert [d.rule_id for d in fired] == ["shop/a"], "a kept its two errors, b started over"
    assert engine.set_rules([rule("a", suspend=True)]).stopped == ["shop/a", "shop/b"]
    assert engine.rules == {}


def test_a_failing_rule_is_switched_off_and_others_go_on() -> None:
    engine = RuleEngine()
    engine.set_rules([rule("bad"), rule("good")])

    def explode(_record: LogRecord) -> bool:
        raise RuntimeError("boom")

    # a callable the rule holds, not a method: the compiled engine's methods cannot be patched
    engine.rules["shop/bad"].selects = explode
    fired = engine.observe([record(i) for i in range(3)])
    assert [d.rule_id for d in fired] == ["shop/good"]
    assert list(engine.rules) == ["shop/good"]


def test_buckets_count_selected_and_matched_records_per_interval() -> None:
    engine = RuleEngine()
    engine.set_rules([rule()])
    engine.observe([record(1), record(2, level=Level.INFO), record(12), record(25, service="x")])
    counts = {(b.key[1], b.start): (b.matched, b.total) for b in engine.drain_buckets()}
    assert counts == {
        ("checkout", at(0)): (1, 2),
        ("checkout", at(10)): (1, 1),
        ("x", at(20)): (1, 1),
    }
    assert engine.drain_buckets() == [], "drained once"


def test_forget_drops_state_of_revoked_partitions() -> None:
    engine = RuleEngine()
    engine.set_rules([rule()])
    engine.observe([record(0, partition=1), record(1, partition=1)])
    engine.forget(lambda partition: partition != ("logs", 1))
    assert engine.observe([record(2, partition=1)]) == [], "the window started over"


def test_silences_found_in_runs_are_those_found_record_by_record() -> None:
    """The absence detector takes a key's matching records of a batch as one run when no
    silence can end inside it; firings, state and evidence are what feeding them one by one
    gives, backlogs with whole silences inside a batch included."""
    rng = random.Random(7)
    moments, clock = [], 0.0
    for _ in range(3000):
        clock += rng.choice([0.5, 1, 2, 3]) if rng.random() > 0.01 else rng.uniform(200, 900)
        moments.append(clock)
    services = ["checkout", "payment", "cart"]
    stream = [
        record(moment, service=rng.choice(services), offset=n, template_id=f"t{n % 7}")
        for n, moment in enumerate(moments)
    ]
    absence = {"type": "absence", "absence": {"silentFor": "5m", "minPriorCount": 20}}
    sizes = [rng.choice([1, 5, 50, 400]) for _ in range(len(stream))]

    def detections(runs: bool) -> tuple[list[tuple[Any, ...]], list[Any]]:
        engine = RuleEngine()
        engine.set_rules([rule(detector=absence, match={})])
        compiled = next(iter(engine.rules.values()))
        if not runs:
            compiled.detector.observe_run = lambda *_: False  # type: ignore[method-assign]
        found, start = [], 0
        for size in sizes:
            for detection in engine.observe(stream[start : start + size]):
                found.append((detection.key, detection.firing.at, len(detection.evidence.samples)))
            start += size
            if start >= len(stream):
                break
        states = sorted(
            (key, state.last_seen, state.seen) for key, state in compiled.detector._states.items()
        )
        return found, states

    by_runs, by_records = detections(runs=True), detections(runs=False)
    assert by_runs[0], "the stream holds silences that end inside a batch"
    assert by_runs == by_records


def test_absence_fires_on_tick() -> None:
    engine = RuleEngine()
    absence = {"type": "absence", "absence": {"silentFor": "5m", "minPriorCount": 2}}
    engine.set_rules([rule(detector=absence, match={})])
    engine.observe([record(0), record(1)])
    assert engine.tick(fixed(at(200))) == []
    fired = engine.tick(fixed(at(302)))
    assert [(d.key, d.firing.statistic) for d in fired] == [
        (("shop", "checkout"), "silenceSeconds")
    ]


# --- incident builder ------------------------------------------------------------------------


def detections_for(engine: RuleEngine, seconds: float) -> list[Any]:
    return engine.observe(
        [record(seconds + i * 0.1, offset=int(seconds * 10 + i)) for i in range(3)]
    )


def test_incident_opens_then_recurs_then_resolves_after_quiet() -> None:
    engine = RuleEngine()
    engine.set_rules([rule(autoResolveAfter="5m", cooldown="10m")])
    builder = IncidentBuilder(engine.ongoing)
    quiet = lambda name: engine.rules[name].rule.spec.auto_resolve_after  # noqa: E731

    opened = builder.on_detection(detections_for(engine, 0)[0])
    assert opened is not None
    assert opened.kind is ChangeKind.OPENED
    spec = opened.incident.spec
    assert spec.fingerprint == fingerprint("shop/errors", ("shop", "checkout"))
    assert spec.rule == "errors"
    assert spec.incident_type == "ErrorBurst"
    assert spec.occurrences == 1
    assert opened.incident.namespace == "shop"
    assert opened.pod.startswith("checkout-")
    assert opened.incident.name.startswith("errors-")

    again = builder.on_detection(detections_for(engine, 120)[0])
    assert again is not None
    assert again.kind is ChangeKind.RECURRED
    assert again.incident.name == opened.incident.name
    assert again.incident.spec.occurrences == 2
    assert again.incident.spec.last_seen == at(120.2)

    assert builder.tick(fixed(at(121 + 299)), quiet) == [], "not quiet long enough"
    resolved = builder.tick(fixed(at(121 + 301)), quiet)
    assert [c.kind for c in resolved] == [ChangeKind.RESOLVED]

    assert builder.on_detection(detections_for(engine, 500)[0]) is None, "cooldown"
    reopened = builder.on_detection(detections_for(engine, 1200)[0])
    assert reopened is not None
    assert reopened.kind is ChangeKind.OPENED
    assert reopened.incident.name != opened.incident.name, "a new incident, a new name"


def test_an_ongoing_condition_keeps_the_incident_open() -> None:
    engine = RuleEngine()
    engine.set_rules([rule(autoResolveAfter="1m")])
    builder = IncidentBuilder(engine.ongoing)
    quiet = lambda name: engine.rules[name].rule.spec.auto_resolve_after  # noqa: E731
    builder.on_detection(detections_for(engine, 0)[0])
    engine.observe([record(50 + i) for i in range(3)])  # still at least 3 in the last minute
    assert builder.tick(fixed(at(61)), quiet) == [], "errors continue: stays open"
    assert [c.kind for c in builder.tick(fixed(at(200)), quiet)] == [ChangeKind.RESOLVED]


def test_incidents_of_removed_rules_resolve_and_foreign_partitions_are_forgotten() -> None:
    engine = RuleEngine()
    engine.set_rules([rule()])
    builder = IncidentBuilder(engine.ongoing)
    detection = detections_for(engine, 0)[0]
    builder.on_detection(detection)
    engine.set_rules([])
    assert [c.resolution for c in builder.tick(fixed(at(1)), lambda _name: None)] == [
        "rule removed"
    ]
    builder.on_detection(detection)
    builder.forget(lambda partition: partition != ("logs", 0))
    assert builder.open == {}


def test_a_firing_held_back_by_a_cooldown_opens_when_it_ends_if_the_condition_holds() -> None:
    engine = RuleEngine()
    engine.set_rules([rule(autoResolveAfter="1m", cooldown="1m")])
    builder = IncidentBuilder(engine.ongoing)
    quiet = lambda name: engine.rules[name].rule.spec.auto_resolve_after  # noqa: E731
    builder.on_detection(detections_for(engine, 0)[0])
    assert [c.kind for c in builder.tick(fixed(at(62)), quiet)] == [ChangeKind.RESOLVED]
    held = detections_for(engine, 100)[0]
    assert builder.on_detection(held) is None, "inside the cooldown (resolved at 60, until 120)"
    engine.observe([record(110), record(115), record(119)])  # errors go on: no new crossing
    assert builder.tick(fixed(at(119)), quiet) == []
    [reopened] = builder.tick(fixed(at(121)), quiet)
    assert reopened.kind is ChangeKind.OPENED
    assert reopened.incident.spec.first_seen == held.firing.at
    assert builder.held_back == {}


def test_a_held_back_firing_whose_condition_ended_during_the_cooldown_is_dropped() -> None:
    engine = RuleEngine()
    absence = {"type": "absence", "absence": {"silentFor": "30s"}}
    engine.set_rules([rule(detector=absence, match={}, autoResolveAfter="1m", cooldown="5m")])
    builder = IncidentBuilder(engine.ongoing)
    quiet = lambda name: engine.rules[name].rule.spec.auto_resolve_after  # noqa: E731
    engine.observe([record(0)])
    [first] = engine.tick(fixed(at(31)))
    builder.on_detection(first)
    engine.observe([record(40)])  # the silence ends
    assert [c.kind for c in builder.tick(fixed(at(100)), quiet)] == [ChangeKind.RESOLVED]
    [held] = engine.tick(fixed(at(101)))  # silent again, inside the cooldown
    assert builder.on_detection(held) is None
    engine.observe([record(120)])  # and back before the cooldown ends
    assert builder.tick(fixed(at(401)), quiet) == []
    assert builder.held_back == {}


def test_held_back_firings_of_removed_rules_or_revoked_partitions_are_dropped() -> None:
    engine = RuleEngine()
    engine.set_rules([rule(autoResolveAfter="1m", cooldown="10m")])
    builder = IncidentBuilder(engine.ongoing)
    builder.on_detection(detections_for(engine, 0)[0])
    builder.tick(fixed(at(62)), lambda _name: timedelta(minutes=1))
    assert builder.on_detection(detections_for(engine, 100)[0]) is None
    builder.forget(lambda partition: partition != ("logs", 0))
    assert builder.held_back == {}
    assert builder.on_detection(detections_for(engine, 200)[0]) is None
    assert builder.tick(fixed(at(1000)), lambda _name: None) == [], "the rule is gone"
    assert builder.held_back == {}


def test_rule_id_defaults_the_namespace() -> None:
    assert rule_id(rule()) == "shop/errors"


def test_known_templates_seed_new_pattern_rules_grouped_by_service_only() -> None:
    engine = RuleEngine()
    new_pattern = {"type": "newPattern", "newPattern": {"learningPeriod": "1h"}}
    by_pod = {**new_pattern, "groupBy": ["namespace", "service", "pod"]}
    engine.set_rules(
        [rule("patterns", match={}, detector=new_pattern), rule("by-pod", detector=by_pod)]
    )
    known = {("shop", "checkout"): (["t-timeout"], at(-7200), ("logs", 0))}
    assert engine.learn_templates(known) == 1, "only the rule grouped by namespace and service"
    assert engine.observe([record(0, template_id="t-timeout")]) == [], "known: not new"
    (detection,) = engine.observe([record(1, template_id="t-declined")])
    assert detection.rule_id == "shop/patterns"
    engine.forget(lambda partition: partition != ("logs", 0))
    assert engine.rules["shop/patterns"].detector.keys() == 0, (
        "seeded keys leave with the partition"
    )


def test_rules_sharing_a_batch_see_what_each_would_see_alone() -> None:
    """Rules with the same match and groupBy share the batch's work (BatchView): together they
    fire, count and keep evidence exactly as each does on its own engine."""
    every = {"selector": {"allNamespaces": True}}
    rules = [
        in_namespace("logsentinel-system", "burst", **every),
        in_namespace("logsentinel-system", "burst-too", **every),
        in_namespace(
            "logsentinel-system",
            "ratio",
            **every,
            detector={"type": "ratio", "ratio": {"above": 0.3, "minTotal": 5, "window": "1m"}},
        ),
        in_namespace("shop", "local", match={"levels": ["error"], "regex": "timeout"}),
    ]
    records = [
        record(i * 0.5, level=Level.ERROR if i % 3 else Level.INFO, offset=i, partition=i % 2)
        for i in range(40)
    ] + [record(5.2, "other", namespace="billing", offset=99)]

    def outcome(engine: RuleEngine, batch: list[LogRecord]) -> Any:
        found = engine.observe(batch)
        return (
            sorted(
                (d.rule_id, d.firing.at, [s.message for s in d.evidence.samples]) for d in found
            ),
            sorted((b.rule, b.key, b.start, b.matched, b.total) for b in engine.drain_buckets()),
        )

    together = RuleEngine()
    together.set_rules(rules)
    shared = outcome(together, records)
    alone: tuple[list[Any], list[Any]] = ([], [])
    for single in rules:
        engine = RuleEngine()
        engine.set_rules([single])
        fired, buckets = outcome(engine, records)
        alone[0].extend(fired)
        alone[1].extend(buckets)
    assert shared == (sorted(alone[0]), sorted(alone[1]))
    assert {name for name, _, _ in shared[0]} >= {
        "logsentinel-system/burst",
        "logsentinel-system/burst-too",
        "shop/local",
    }
