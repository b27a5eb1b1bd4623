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

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress
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
TEMPLATE_HISTORY = 1024
"""Template ids of the latest matching lines a trail keeps; its evidence names the latest
MAX_TEMPLATE_IDS distinct ones among them."""


def home_namespace(rule: DetectionRule) -> str:
    """The namespace a rule lives in (``default`` for a rule file that names none)."""
    return rule.metadata.namespace or "default"


def rule_id(rule: DetectionRule) -> str:
    """How rules are named everywhere (incidents, aggregates, metrics): namespace/name."""
    return f"{home_namespace(rule)}/{rule.metadata.name}"


@dataclass
class Trail:
    """Evidence kept per rule and key: recent matching lines and their templates.

    Adding a line is two appends (it happens for every matching line of every rule); which
    templates were seen most recently is worked out only when evidence is needed."""

    samples: deque[LogRecord] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    templates: deque[str | None] = field(default_factory=lambda: deque(maxlen=TEMPLATE_HISTORY))

    def add(self, record: LogRecord) -> None:
        self.samples.append(record)
        self.templates.append(record.template_id)

    def extend(self, records: Sequence[LogRecord]) -> None:
        """add() for each record, in order."""
        self.samples.extend(records[-MAX_SAMPLES:])
        self.templates.extend([record.template_id for record in records[-TEMPLATE_HISTORY:]])

    def template_ids(self) -> list[str]:
        """The latest MAX_TEMPLATE_IDS distinct templates, least recently seen first."""
        latest: dict[str, None] = {}
        for template_id in reversed(self.templates):
            if template_id is not None and template_id not in latest:
                latest[template_id] = None
                if len(latest) == MAX_TEMPLATE_IDS:
                    break
        return list(reversed(latest))

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
            template_ids=self.template_ids(),
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
    selects: RecordTest | None
    """None: every record."""
    matches: RecordTest
    match_signature: str
    """The match as canonical JSON: rules with the same one share its results in a batch."""
    key_of: Callable[[LogRecord], Key]
    group_by: tuple[str, ...]
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


class BatchView:
    """A batch as the rules read it. What several rules ask of every record (its time bucket
    for a width, its key for a groupBy, whether a match takes it, the counts per key and
    bucket) is computed once per batch, and counted by Counter rather than record by record."""

    def __init__(self, records: Sequence[LogRecord]) -> None:
        self.records = records
        self.seconds = [record.timestamp.timestamp() for record in records]
        self.sources: list[Partition | None] = [
            None if record.source is None else (record.source.topic, record.source.partition)
            for record in records
        ]
        self._keys: dict[tuple[str, ...], list[Key]] = {}
        self._slots: dict[float, list[int]] = {}
        self._matched: dict[str, list[bool]] = {}
        self._hits: dict[str, list[int]] = {}
        self._counts: dict[tuple[tuple[str, ...], float, str | None], Counter[tuple[Key, int]]]
        self._counts = {}
        self._partitions: dict[tuple[str, ...], dict[Key, Partition]] = {}

    def keys(self, group_by: tuple[str, ...], key_of: Callable[[LogRecord], Key]) -> list[Key]:
        found = self._keys.get(group_by)
        if found is None:
            found = self._keys[group_by] = [key_of(record) for record in self.records]
        return found

    def slots(self, width: float) -> list[int]:
        """Each record's bucket: the number of whole widths since the epoch."""
        found = self._slots.get(width)
        if found is None:
            found = self._slots[width] = [int(second // width) for second in self.seconds]
        return found

    def matched(self, signature: str, matches: RecordTest) -> list[bool]:
        found = self._matched.get(signature)
        if found is None:
            found = self._matched[signature] = [matches(record) for record in self.records]
        return found

    def hits(self, signature: str, matches: RecordTest) -> list[int]:
        """The positions of the records the match takes."""
        found = self._hits.get(signature)
        if found is None:
            matched = self.matched(signature, matches)
            found = self._hits[signature] = list(compress(range(len(matched)), matched))
        return found

    def counts(
        self,
        group_by: tuple[str, ...],
        key_of: Callable[[LogRecord], Key],
        width: timedelta,
        match: tuple[str, RecordTest] | None = None,
    ) -> Counter[tuple[Key, int]]:
        """Records per key and bucket: all of them, or those match (signature, test) takes."""
        seconds = width.total_seconds()
        cache_key = (group_by, seconds, match[0] if match is not None else None)
        found = self._counts.get(cache_key)
        if found is None:
            keys, slots = self.keys(group_by, key_of), self.slots(seconds)
            if match is None:
                found = Counter(zip(keys, slots, strict=True))
            else:
                found = Counter([(keys[index], slots[index]) for index in self.hits(*match)])
            self._counts[cache_key] = found
        return found

    def partitions(
        self, group_by: tuple[str, ...], key_of: Callable[[LogRecord], Key]
    ) -> dict[Key, Partition]:
        """The partition each key's records came from (the last record's)."""
        found = self._partitions.get(group_by)
        if found is None:
            keys = self.keys(group_by, key_of)
            found = {
                keys[index]: source
                for index, source in enumerate(self.sources)
                if source is not None
            }
            self._partitions[group_by] = found
        return found


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
            match_signature=spec.match.model_dump_json(),
            key_of=compile_key(spec.detector.group_by),
            group_by=tuple(spec.detector.group_by),
            detector=build(spec.detector),
            window=spec.detector.params.decision_window(),
        )

    # --- records -------------------------------------------------------------------------------

    def observe(self, records: Sequence[LogRecord]) -> list[Detection]:
        """Feed a batch of stored records (in partition order); the detections it caused."""
        detections: list[Detection] = []
        broken: dict[str, str] = {}
        batch = BatchView(records)
        for compiled in self.rules.values():
            try:
                self._observe_rule(compiled, batch, detections)
            except Exception as error:
                broken[compiled.rule_id] = f"{type(error).__name__}: {error}"
        for name, reason in broken.items():
            log.error("rule failed; switched off", rule=name, error=reason)
            del self.rules[name]
        return detections

    def _observe_rule(
        self, compiled: CompiledRule, batch: BatchView, detections: list[Detection]
    ) -> None:
        records = batch.records
        selects, detector = compiled.selects, compiled.detector
        keys = batch.keys(compiled.group_by, compiled.key_of)
        if selects is None:  # what other rules with this groupBy or match share
            selected: Sequence[int] = range(len(records))
            match = (compiled.match_signature, compiled.matches)
            matched = batch.matched(*match)
            hits = batch.hits(*match)
            width = detector.bucket_width
            totals = batch.counts(compiled.group_by, compiled.key_of, width)
            hit_counts = batch.counts(compiled.group_by, compiled.key_of, width, match)
            compiled.partition_of.update(batch.partitions(compiled.group_by, compiled.key_of))
        else:
            selected = [index for index, record in enumerate(records) if selects(record)]
            matches = compiled.matches
            matched = [False] * len(records)
            for index in selected:
                matched[index] = matches(records[index])
            hits = [index for index in selected if matched[index]]
            slots = batch.slots(detector.bucket_width.total_seconds())
            totals = Counter([(keys[index], slots[index]) for index in selected])
            hit_counts = Counter([(keys[index], slots[index]) for index in hits])
            sources = batch.sources
            compiled.partition_of.update(
                {keys[i]: source for i in selected if (source := sources[i]) is not None}
            )
        self._count(compiled.rule_id, totals, hit_counts)
        trails, last_pod = compiled.trails, compiled.last_pod
        if detector.needs_unmatched:
            feed: Sequence[int] = selected
        elif detector.takes_runs:
            feed = self._observe_runs(compiled, records, keys, hits)
        else:
            feed = hits
        for index in feed:
            record, key = records[index], keys[index]
            matching = matched[index]
            if matching:  # the trail first: evidence of a firing on this record includes it
                trail = trails.get(key)
                if trail is None:
                    trail = trails[key] = Trail()
                trail.add(record)
                last_pod[key] = record.pod
            firing = detector.observe_record(key, record, matching)
            if firing is not None:
                detections.append(self._detection(compiled, firing))
        self.evaluations += len(selected)

    @staticmethod
    def _observe_runs(
        compiled: CompiledRule, records: Sequence[LogRecord], keys: list[Key], hits: list[int]
    ) -> list[int]:
        """Offer each key's matching records of the batch to the detector as one run (see
        KeyedDetector.observe_run), their trail kept as if fed one by one; the positions of the
        records it did not take, in order, to feed one by one."""
        runs: dict[Key, list[int]] = {}
        for index in hits:
            runs.setdefault(keys[index], []).append(index)
        refused: list[int] = []
        detector, trails = compiled.detector, compiled.trails
        for key, positions in runs.items():
            times = [records[index].timestamp for index in positions]
            if not detector.observe_run(key, min(times), max(times), len(positions)):
                refused.extend(positions)
                continue
            trail = trails.get(key)
            if trail is None:
                trail = trails[key] = Trail()
            trail.extend([records[index] for index in positions[-TEMPLATE_HISTORY:]])
            compiled.last_pod[key] = records[positions[-1]].pod
        if len(runs) > 1:
            refused.sort()
        return refused

    def _count(
        self, name: str, totals: Counter[tuple[Key, int]], hits: Counter[tuple[Key, int]]
    ) -> None:
        """Add a batch's selected (total) and matched counts per key and bucket."""
        buckets = self._buckets
        for (key, slot), total in totals.items():
            counts = buckets.get((name, key, slot))
            if counts is None:
                counts = buckets[(name, key, slot)] = [0, 0]
            counts[0] += hits.get((key, slot), 0)
            counts[1] += total

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
