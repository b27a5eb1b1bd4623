"""Drive the rule engine and the incident builder over a scenario, and score the incidents.

The harness replays the scenario's records through detection.replay: the processor's rule
engine and incident builder on event time, one tick per simulated second.

Scoring: an incident of a fault's service opened within [fault.start, fault.end + grace] is a
true positive for that fault, and the first one gives the detection delay; every other incident
is a false incident.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from logsentinel.detection.engine import Detection, rule_id
from logsentinel.detection.incident_builder import ChangeKind, IncidentChange
from logsentinel.detection.replay import Replay
from logsentinel.domain.incident import IncidentSpec
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.resources import DetectionRule
from logsentinel.domain.rule import DetectorType
from logsentinel.manifests import load_rules
from support.scenarios import NAMESPACE, Fault, FaultKind, Scenario, StreamStats

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rules"
GRACE = timedelta(minutes=10)
STEP = timedelta(seconds=1)


# --- the rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioRule:
    """A rule and the fault kinds it is designed to catch (on the services it selects)."""

    rule: DetectionRule
    designed_for: frozenset[FaultKind]

    @property
    def id(self) -> str:
        return rule_id(self.rule)

    @property
    def detector(self) -> DetectorType:
        return self.rule.spec.detector.type

    def selects(self, service: str) -> bool:
        selector = self.rule.spec.selector
        return (not selector.namespaces or NAMESPACE in selector.namespaces) and (
            not selector.services or service in selector.services
        )

    def targets(self, fault: Fault) -> bool:
        return fault.kind in self.designed_for and self.selects(fault.service)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        elif value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def adapted(rule: DetectionRule, **changes: Any) -> DetectionRule:
    """The rule with its wire form deep-merged with changes (None removes a field), validated."""
    return DetectionRule.from_manifest(_merge(rule.to_wire(), changes), "adapted")


def scenario_rules(examples: Path = EXAMPLES) -> list[ScenarioRule]:
    """One rule per detector type, from examples/rules adapted to the scenario's services.

    - threshold, ewma, absence, newPattern: the examples as they are;
    - ratio: the example watches access-log 5xx of two services; here, the share of error lines
      of every service (5 minutes, above 10 %, at least 50 lines, so the quietest service still
      counts at night);
    - zscore: the example watches warnings; here, errors (the faults are error faults);
    - latency: the scenario's access logs carry latency_ms, with a p99 far below the example's
      1.5 s: above 500 ms;
    - isolationForest: storefront, latency from latency_ms, cheaper parameters (FOREST_SPEC).
    """
    loaded = load_rules([examples])
    if loaded.refused:
        raise ValueError(f"examples refused: {loaded.refused}")
    by_name = {rule.metadata.name: rule for rule in loaded.rules}
    errors = {"levels": ["error", "fatal"]}
    return [
        ScenarioRule(by_name["error-burst"], frozenset({FaultKind.ERROR_BURST})),
        ScenarioRule(
            adapted(
                by_name["http-5xx-ratio"],
                metadata={"name": "error-ratio"},
                spec={
                    "description": "Share of error lines.",
                    "selector": {"namespaces": [NAMESPACE], "services": None},
                    "match": {"levels": errors["levels"], "fields": None},
                    "detector": {"ratio": {"above": 0.1, "minTotal": 50, "window": "5m"}},
                },
            ),
            frozenset({FaultKind.ERROR_RATE_RISE}),
        ),
        ScenarioRule(
            adapted(
                by_name["warning-surge"],
                metadata={"name": "error-surge"},
                spec={"match": errors, "incidentType": "ErrorSpike"},
            ),
            frozenset({FaultKind.ERROR_BURST}),
        ),
        ScenarioRule(by_name["error-rate-drift"], frozenset({FaultKind.ERROR_BURST})),
        ScenarioRule(by_name["payment-worker-silent"], frozenset({FaultKind.SILENCE})),
        ScenarioRule(
            by_name["new-error-after-rollout"],
            frozenset({FaultKind.NEW_EXCEPTION_AFTER_ROLLOUT}),
        ),
        ScenarioRule(
            adapted(
                by_name["slow-requests"],
                spec={
                    "match": {"fields": [{"field": "attributes.latency_ms", "op": "exists"}]},
                    "detector": {"latency": {"attribute": "latency_ms", "above": 500}},
                },
            ),
            frozenset({FaultKind.LATENCY_REGRESSION}),
        ),
        ScenarioRule(
            adapted(by_name["unusual-behaviour"], spec=FOREST_SPEC),
            frozenset(FaultKind),
        ),
    ]


FOREST_SPEC: dict[str, Any] = {
    "selector": {"services": ["storefront"]},
    "detector": {
        "isolationForest": {
            "interval": "5m",
            "baselinePeriod": "12h",
            "minBaselineIntervals": 24,
            "contamination": 0.001,
            "estimators": 50,
            "latencyAttribute": "latency_ms",
        }
    },
}
"""The scenario's forest: 5-minute intervals and 50 trees. The example's 1-minute intervals and
100 trees cost about 26 s of CPU per key and simulated day here (one decision_function call per
interval, about 15 ms on this machine), too much for a unit test; example_forest() is that rule."""


def example_forest(examples: Path = EXAMPLES) -> ScenarioRule:
    """The isolationForest example with only its selector and latency attribute adapted."""
    rule = next(r for r in load_rules([examples]).rules if r.metadata.name == "unusual-behaviour")
    return ScenarioRule(
        adapted(
            rule,
            metadata={"name": "unusual-behaviour-example"},
            spec={
                "selector": FOREST_SPEC["selector"],
                "detector": {"isolationForest": {"latencyAttribute": "latency_ms"}},
            },
        ),
        frozenset(FaultKind),
    )


DEFAULT_PACK = Path(__file__).resolve().parents[2] / "rules" / "default"


def default_pack(directory: Path = DEFAULT_PACK) -> list[ScenarioRule]:
    """The default rule pack as it ships (every rule may catch every kind of fault)."""
    loaded = load_rules([directory])
    if loaded.refused:
        raise ValueError(f"default pack refused: {loaded.refused}")
    return [ScenarioRule(rule, frozenset(FaultKind)) for rule in loaded.rules]


# --- running -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedIncident:
    rule: str
    detector: DetectorType
    service: str
    at: datetime
    """When the firing that opened it happened (the incident's firstSeen)."""
    spec: IncidentSpec


@dataclass(frozen=True)
class Fired:
    """One detection (firing), whether it opened, recurred into or was suppressed by cooldown."""

    rule: str
    service: str
    at: datetime
    outcome: str
    """What the incident builder made of it: opened, recurred or suppressed (cooldown)."""


@dataclass
class Run:
    """What a scenario did to the rules."""

    incidents: list[OpenedIncident] = field(default_factory=list)
    fired: list[Fired] = field(default_factory=list)
    records: int = 0
    evaluations: int = 0
    cpu_seconds: float = 0.0


def run(
    records: Iterable[LogRecord],
    rules: Sequence[ScenarioRule],
    *,
    start: datetime,
    end: datetime,
    step: timedelta = STEP,
    on_record: Callable[[LogRecord], None] | None = None,
) -> Run:
    """Feed records (event-time order, within [start, end)) through a replay of the rules
    (detection.replay: the processor's engine and incident builder on event time) to end."""
    began = time.process_time()
    types = {rule.id: rule.detector for rule in rules}
    result = Run()

    def observe(detection: Detection, change: IncidentChange | None) -> None:
        outcome = "suppressed" if change is None else change.kind.value
        result.fired.append(
            Fired(detection.rule_id, detection.service, detection.firing.at, outcome)
        )
        if change is not None and change.kind is ChangeKind.OPENED:
            spec = change.incident.spec
            result.incidents.append(
                OpenedIncident(
                    rule=detection.rule_id,
                    detector=types[detection.rule_id],
                    service=detection.service,
                    at=spec.first_seen,
                    spec=spec,
                )
            )

    replay = Replay([rule.rule for rule in rules], start=start, step=step, observer=observe)
    if replay.refused:
        raise ValueError(f"scenario rules refused: {replay.refused}")

    def counted(stream: Iterable[LogRecord]) -> Iterable[LogRecord]:
        for record in stream:
            if on_record is not None:
                on_record(record)
            yield record

    replay.feed(counted(records))
    replay.finish(end)
    result.records = replay.records
    result.evaluations = replay.evaluations
    result.cpu_seconds = time.process_time() - began
    return result


# --- scoring -----------------------------------------------------------------------------------


def within(service: str, at: datetime, fault: Fault, grace: timedelta = GRACE) -> bool:
    """Whether something of service at at falls in fault's window [start, end + grace]."""
    return service == fault.service and fault.start <= at <= fault.end + grace


@dataclass
class RuleScore:
    rule: ScenarioRule
    incidents: int = 0
    false_incidents: list[OpenedIncident] = field(default_factory=list)
    targeted: list[Fault] = field(default_factory=list)
    """Faults of the kinds the rule is designed for, on services it selects."""
    delays: dict[Fault, timedelta] = field(default_factory=dict)
    """Every fault the rule caught (targeted or not): the delay of its first incident."""
    swallowed: dict[Fault, Fired] = field(default_factory=dict)
    """Targeted faults the rule fired for without opening an incident (one of its incidents for
    the service was already open, or in cooldown): the first such firing."""

    @property
    def true_incidents(self) -> int:
        return self.incidents - len(self.false_incidents)

    @property
    def detected(self) -> list[Fault]:
        return [fault for fault in self.targeted if fault in self.delays]

    @property
    def also_caught(self) -> list[Fault]:
        return [fault for fault in self.delays if fault not in self.targeted]


def score(
    result: Run, faults: Sequence[Fault], rules: Sequence[ScenarioRule], grace: timedelta = GRACE
) -> dict[str, RuleScore]:
    scores = {rule.id: RuleScore(rule) for rule in rules}
    for rule_score in scores.values():
        rule_score.targeted = [fault for fault in faults if rule_score.rule.targets(fault)]
    for incident in sorted(result.incidents, key=lambda i: i.at):
        rule_score = scores[incident.rule]
        rule_score.incidents += 1
        caught = [fault for fault in faults if within(incident.service, incident.at, fault, grace)]
        if not caught:
            rule_score.false_incidents.append(incident)
        for fault in caught:
            rule_score.delays.setdefault(fault, incident.at - fault.start)
    for fired in sorted(result.fired, key=lambda f: f.at):
        rule_score = scores[fired.rule]
        for fault in rule_score.targeted:
            if fault not in rule_score.delays and within(fired.service, fired.at, fault, grace):
                rule_score.swallowed.setdefault(fault, fired)
    return scores


# --- a scenario, observed ----------------------------------------------------------------------


@dataclass
class Observed:
    """A scenario's run, its stream statistics and its scores (picklable: runs in a worker)."""

    scenario: Scenario
    run: Run
    stats: StreamStats
    scores: dict[str, RuleScore]

    def fault(self, kind: FaultKind) -> Fault:
        (found,) = (fault for fault in self.scenario.faults if fault.kind is kind)
        return found

    def opened(self, rule: ScenarioRule, fault: Fault) -> OpenedIncident:
        """The incident rule opened for fault."""
        at = fault.start + self.scores[rule.id].delays[fault]
        return next(i for i in self.run.incidents if i.rule == rule.id and i.at == at)


def observe(scenario: Scenario, rules: Sequence[ScenarioRule]) -> Observed:
    stats = StreamStats(scenario.start)
    result = run(
        scenario.records(), rules, start=scenario.start, end=scenario.end, on_record=stats.add
    )
    return Observed(scenario, result, stats, score(result, scenario.faults, rules))
