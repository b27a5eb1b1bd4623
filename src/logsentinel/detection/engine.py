"""The rule engine: every stored record through every rule that selects it.

For each record and each active rule: does the selector take it, does the match, which group key
it belongs to; then the rule's detector decides. A firing becomes a Detection carrying the
evidence gathered for that rule and key (recent matching lines, template ids, offsets). The
engine also counts selected and matched records per rule, key and interval (the stored
aggregates that rebuild baselines after a rebalance and that remediation verifies against).

A rule sees the records of its own namespace; only a rule in the central namespace may watch
others, and set_rules refuses one elsewhere that tries (domain.rule.scope_problem).

Rules are replaced as a whole (set_rules); a rule whose spec did not change keeps its state. A
rule that is refused or raises is switched off and reported instead of stopping the processor.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from logsentinel.detection.catalog import build
from logsentinel.detection.detectors import Firing, KeyClock, KeyedDetector
from logsentinel.detection.matching import (
    Key,
    RecordTest,
    TemplateText,
    compile_key,
    compile_match,
    compile_selector,
)
from logsentinel.detection.newpattern import NewPatternDetector
from logsentinel.detection.watermarks import EventClock, Partition
from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.common import DEFAULT_CENTRAL_NAMESPACE
from logsentinel.domain.incident import (
    MAX_SAMPLES,
    Evidence,
    EvidenceSample,
    OffsetRange,
    WindowStatistics,
)
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.resources import DetectionRule
from logsentinel.domain.rule import scope_problem

log = structlog.get_logger("logsentinel.detection")

MAX_SAMPLE_CHARS = 2048
MAX_TEMPLATE_IDS = 50


def home_namespace(rule: DetectionRule) -> str:
    """The namespace a rule lives in (``default`` for a rule file that names none)."""
    return rule.metadata.namespace or "default"


def rule_id(rule: DetectionRule) -> str:
    """How rules are named everywhere (incidents, aggregates, metrics): namespace/name."""
    return f"{home_namespace(rule)}/{rule.metadata.name}"


@dataclass
class Trail:
    """Evidence kept per rule and key: recent matching lines and their templates."""

    samples: deque[LogRecord] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    template_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def add(self, record: LogRecord) -> None:
        self.samples.append(record)
        if record.template_id is not None:
            self.template_ids[record.template_id] = None
            self.template_ids.move_to_end(record.template_id)
            if len(self.template_ids) > MAX_TEMPLATE_IDS:
                self.template_ids.popitem(last=False)

    def evidence(self, firing: Firing, window: timedelta) -> Evidence:
        samples = [
            EvidenceSample(
                timestamp=record.timestamp,
                level=record.level,
                pod=record.pod,
                message=record.message[:MAX_SAMPLE_CHARS],
            )
            for record in self.samples
        ]
        ranges: dict[Partition, list[int]] = {}
        for record in self.samples:
            if record.source is None:
                continue
            position = (record.source.topic, record.source.partition)
            offset = record.source.offset
            known = ranges.setdefault(position, [offset, offset])
            known[0], known[1] = min(known[0], offset), max(known[1], offset)
        return Evidence(
            samples=samples,
            template_ids=list(self.template_ids),
            offsets=[
                OffsetRange(topic=topic, partition=partition, first_offset=a, last_offset=b)
                for (topic, partition), (a, b) in sorted(ranges.items())
            ],
            window=WindowStatistics(
                start=firing.at - window,
                end=firing.at,
                statistic=firing.statistic,
                value=firing.value,
                threshold=firing.threshold,
                matched=firing.matched,
                total=firing.total,
            ),
        )


@dataclass(frozen=True)
class Detection:
    """A rule fired for a key: what the incident builder turns into an incident."""

    rule: DetectionRule
    rule_id: str
    key: Key
    key_fields: dict[str, str]
    firing: Firing
    evidence: Evidence
    namespace: str
    service: str
    pod: str
    """The pod of the latest matching record, to resolve the target workload from."""
    partition: Partition | None


@dataclass
class CompiledRule:
    rule: DetectionRule
    rule_id: str
    selects: RecordTest
    matches: RecordTest
    key_of: Callable[[LogRecord], Key]
    detector: KeyedDetector[Any]
    window: timedelta
    trails: dict[Key, Trail] = field(default_factory=dict)
    partition_of: dict[Key, Partition] = field(default_factory=dict)
    last_pod: dict[Key, str] = field(default_factory=dict)

    def named(self, key: Key) -> dict[str, str]:
        return dict(zip(self.rule.spec.detector.group_by, key, strict=True))

    def key_clock(self, now: EventClock) -> KeyClock:
        """The event time of each key: that of the partition its records come from."""
        partition_of = self.partition_of
        return lambda key: now(partition_of.get(key))


@dataclass(frozen=True)
class RuleChanges:
    """What set_rules did: rules whose detectors are new (to restore) and rules refused."""

    started: list[str]
    stopped: list[str]
    refused: dict[str, str]


class RuleEngine:
    """Evaluates the active rules on batches of stored records."""

    def __init__(
        self,
        template_text: TemplateText = lambda _id: None,
        central_namespace: str = DEFAULT_CENTRAL_NAMESPACE,
    ) -> None:
        self.template_text = template_text
        self.central_namespace = central_namespace
        self.rules: dict[str, CompiledRule] = {}
        self._buckets: dict[tuple[str, Key, int], list[int]] = {}
        self.evaluations = 0

    # --- rules ---------------------------------------------------------------------------------

    def set_rules(self, rules: Iterable[DetectionRule]) -> RuleChanges:
        """Make these the active rules; unchanged specs keep their detector state."""
        wanted = {rule_id(rule): rule for rule in rules if not rule.spec.suspend}
        started, refused = [], {}
        compiled: dict[str, CompiledRule] = {}
        for name, rule in wanted.items():
            problem = scope_problem(
                rule.spec.selector, home_namespace(rule), self.central_namespace
            )
            if problem is not None:
                refused[name] = str(problem)
                continue
            current = self.rules.get(name)
            if current is not None and current.rule.spec == rule.spec:
                current.rule = rule
                compiled[name] = current
                continue
            try:
                compiled[name] = self._compile(name, rule)
            except Exception as error:  # a rule must never stop the processor
                refused[name] = f"{type(error).__name__}: {error}"
                continue
            started.append(name)
        stopped = [name for name in self.rules if name not in compiled or name in started]
        self.rules = compiled
        self._buckets = {k: v for k, v in self._buckets.items() if k[0] in compiled}
        return RuleChanges(started=started, stopped=stopped, refused=refused)

    def _compile(self, name: str, rule: DetectionRule) -> CompiledRule:
        spec = rule.spec
        return CompiledRule(
            rule=rule,
            rule_id=name,
            selects=compile_selector(spec.selector, home_namespace(rule)),
            matches=compile_match(spec.match, self.template_text),
            key_of=compile_key(spec.detector.group_by),
            detector=build(spec.detector),
            window=spec.detector.params.decision_window(),
        )

    # --- records -------------------------------------------------------------------------------

    def observe(self, records: Sequence[LogRecord]) -> list[Detection]:
        """Feed a batch of stored records (in partition order); the detections it caused."""
        detections: list[Detection] = []
        broken: dict[str, str] = {}
        for compiled in self.rules.values():
            try:
                self._observe_rule(compiled, records, detections)
            except Exception as error:
                broken[compiled.rule_id] = f"{type(error).__name__}: {error}"
        for name, reason in broken.items():
            log.error("rule failed; switched off", rule=name, error=reason)
            del self.rules[name]
        return detections

    def _observe_rule(
        self, compiled: CompiledRule, records: Sequence[LogRecord], detections: list[Detection]
    ) -> None:
        selects, matches, key_of = compiled.selects, compiled.matches, compiled.key_of
        detector = compiled.detector
        every_record = detector.needs_unmatched
        width = detector.bucket_width.total_seconds()
        buckets = self._buckets
        name = compiled.rule_id
        evaluated = 0
        for record in records:
            if not selects(record):
                continue
            evaluated += 1
            key = key_of(record)
            matched = matches(record)
            slot = (name, key, int(record.timestamp.timestamp() // width))
            counts = buckets.get(slot)
            if counts is None:
                counts = buckets[slot] = [0, 0]
                if record.source is not None:
                    compiled.partition_of[key] = (record.source.topic, record.source.partition)
            counts[1] += 1
            if matched:
                counts[0] += 1
                trail = compiled.trails.get(key)
                if trail is None:
                    trail = compiled.trails[key] = Trail()
                trail.add(record)
                compiled.last_pod[key] = record.pod
            elif not every_record:
                continue
            firing = detector.observe_record(key, record, matched)
            if firing is not None:
                detections.append(self._detection(compiled, firing))
        self.evaluations += evaluated

    def tick(self, now: EventClock) -> list[Detection]:
        """Let event time pass (absence and interval detectors fire here): now(partition) is
        the event time of each partition (detection.watermarks)."""
        detections: list[Detection] = []
        for compiled in list(self.rules.values()):
            try:
                firings = compiled.detector.tick(compiled.key_clock(now))
            except Exception as error:
                log.error("rule failed; switched off", rule=compiled.rule_id, error=str(error))
                del self.rules[compiled.rule_id]
                continue
            detections.extend(self._detection(compiled, firing) for firing in firings)
        return detections

    def ongoing(self, name: str, key: Key, now: datetime) -> bool:
        compiled = self.rules.get(name)
        return compiled is not None and compiled.detector.ongoing(key, now)

    def _detection(self, compiled: CompiledRule, firing: Firing) -> Detection:
        key = firing.key
        trail = compiled.trails.get(key) or Trail()
        fields = compiled.named(key)
        return Detection(
            rule=compiled.rule,
            rule_id=compiled.rule_id,
            key=key,
            key_fields=fields,
            firing=firing,
            evidence=trail.evidence(firing, compiled.window),
            namespace=fields.get("namespace", ""),
            service=fields.get("service", ""),
            pod=compiled.last_pod.get(key, ""),
            partition=compiled.partition_of.get(key),
        )

    # --- aggregates and rebalancing ------------------------------------------------------------

    def drain_buckets(self) -> list[RuleBucket]:
        """The counts gathered since the last call, to add to the stored aggregates."""
        counted, self._buckets = self._buckets, {}
        features: dict[tuple[str, Key, datetime], tuple[float, ...]] = {}
        for compiled in self.rules.values():
            for key, start, vector in compiled.detector.closed_features():
                features[(compiled.rule_id, key, start)] = vector
        drained = []
        for (name, key, index), (matched, total) in counted.items():
            owner = self.rules.get(name)
            if owner is None:
                continue
            width = owner.detector.bucket_width
            start = datetime.fromtimestamp(index * width.total_seconds(), UTC)
            drained.append(
                RuleBucket(
                    rule=name,
                    key=key,
                    start=start,
                    width=width,
                    matched=matched,
                    total=total,
                    source=owner.partition_of.get(key),
                    features=features.pop((name, key, start), ()),
                )
            )
        for (name, key, start), vector in features.items():  # intervals without new records
            compiled = self.rules[name]
            drained.append(
                RuleBucket(
                    rule=name,
                    key=key,
                    start=start,
                    width=compiled.detector.bucket_width,
                    matched=0,
                    total=0,
                    source=compiled.partition_of.get(key),
                    features=vector,
                )
            )
        return drained

    def restore(self, name: str, stored: Mapping[Key, Sequence[RuleBucket]], now: datetime) -> None:
        """Seed a rule's detectors for newly owned keys from stored aggregates."""
        compiled = self.rules.get(name)
        if compiled is None:
            return
        for key, buckets in stored.items():
            compiled.detector.restore(key, buckets, now)

    def learn_templates(
        self,
        known: Mapping[tuple[str, str], tuple[Sequence[str], datetime, Partition]],
        rules: Iterable[str] | None = None,
    ) -> int:
        """Seed the newPattern rules (all, or those named) grouped by namespace and service
        with the templates each service logged before ((namespace, service) -> (template ids,
        when it first logged one, the partition its records come from)): after a rebalance or
        restart they do not learn again, and an old template does not look new. Returns the
        keys seeded."""
        seeded = 0
        for name in self.rules if rules is None else rules:
            compiled = self.rules.get(name)
            if compiled is None or not isinstance(compiled.detector, NewPatternDetector):
                continue
            if list(compiled.rule.spec.detector.group_by) != ["namespace", "service"]:
                continue  # finer keys: their templates are not stored per key
            learning = compiled.detector.params.learning_period
            for key, (template_ids, since, partition) in known.items():
                compiled.detector.learn_known(key, template_ids, since + learning)
                compiled.partition_of.setdefault(key, partition)
                seeded += 1
        return seeded

    def forget(self, owned: Callable[[Partition], bool]) -> None:
        """Drop the state of keys whose partition this processor no longer owns."""
        for compiled in self.rules.values():
            lost = {key for key, p in compiled.partition_of.items() if not owned(p)}
            if not lost:
                continue
            compiled.detector.forget(_not_in(lost))
            for key in lost:
                compiled.trails.pop(key, None)
                compiled.last_pod.pop(key, None)
                compiled.partition_of.pop(key, None)


def _not_in(keys: set[Key]) -> Callable[[Key], bool]:
    return lambda key: key not in keys
