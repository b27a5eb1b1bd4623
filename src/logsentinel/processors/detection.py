"""Detection inside the processor: rules on every stored batch, incidents out.

Runs on the processor's main thread, after a batch's transaction committed (so it sees each
stored record exactly once and never a replay): the rule engine evaluates the records, the
incident builder turns firings into incident changes, and the IncidentWriter thread persists
them. A timer tick lets time-driven detectors (absence, isolation forest intervals) fire and
resolves quiet incidents, on the event time of each partition (detection.watermarks): the loop
says which partitions are caught up, and only those follow the wall clock.

Partition ownership drives state: on assignment the open incidents, recent resolutions
(cooldowns) and stored baselines of the new partitions are loaded; on revocation their state is
dropped (the next owner loads it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import structlog

from logsentinel.detection.engine import Detection, RuleEngine
from logsentinel.detection.incident_builder import IncidentBuilder, IncidentChange, TrackedIncident
from logsentinel.detection.watermarks import Partition, Watermarks
from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.rule import (
    DetectorType,
)
from logsentinel.processors import metrics
from logsentinel.processors.incident_writer import IncidentWriter
from logsentinel.processors.rules import RuleSource
from logsentinel.storage import buckets as bucket_store
from logsentinel.storage import incidents as incident_store
from logsentinel.storage import templates as template_store

log = structlog.get_logger("logsentinel.processors")

TICK_SECONDS = 1.0
COOLDOWN_LOOKBACK = timedelta(days=1)


class DetectionStage:
    """Rules, incidents and their persistence, as seen from the consume loop."""

    def __init__(
        self,
        *,
        rules: RuleSource,
        engine: RuleEngine,
        writer: IncidentWriter,
        database_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rules = rules
        self.engine = engine
        self.writer = writer
        self.database_url = database_url
        self.clock = clock
        self.builder = IncidentBuilder(engine.ongoing)
        self.owned: set[Partition] = set()
        self.watermarks = Watermarks()
        self._next_tick = 0.0

    def start(self) -> None:
        self.writer.start()
        self.rules.start()
        self._refresh_rules()

    def stop(self) -> None:
        self.rules.stop()
        self.writer.stop()

    # --- hooks of the consume loop -------------------------------------------------------------

    def stored(self, records: Sequence[LogRecord]) -> None:
        """A batch was committed: evaluate it."""
        self._refresh_rules()
        if not records:
            return
        self.watermarks.stored(records)
        if not self.engine.rules:
            return
        before = self.engine.evaluations
        detections = self.engine.observe(records)
        metrics.RULE_EVALUATIONS.inc(self.engine.evaluations - before)
        self._handle(detections)
        self._flush_buckets()

    def tick(self, caught_up: Collection[Partition]) -> None:
        """Called often by the loop, with the partitions whose every record is stored; does its
        work once a second."""
        self.watermarks.caught_up(caught_up)
        now_monotonic = time.monotonic()
        if now_monotonic < self._next_tick:
            return
        self._next_tick = now_monotonic + TICK_SECONDS
        self._refresh_rules()
        while self.writer.closed_elsewhere:
            closed = self.writer.closed_elsewhere.popleft()
            self.builder.closed_elsewhere(closed.fingerprint, closed.at)
        clock = self.watermarks.clock(self.clock())
        self._handle(self.engine.tick(clock))
        for change in self.builder.tick(clock, self._quiet_after):
            self.writer.submit(change)
        self._flush_buckets()

    def assigned(self, topic: str, partitions: Sequence[int]) -> None:
        self.owned.update((topic, partition) for partition in partitions)
        self._load(topic, partitions, list(self.engine.rules))

    def revoked(self, topic: str, partitions: Sequence[int]) -> None:
        self.owned.difference_update((topic, partition) for partition in partitions)
        self.engine.forget(self._owns)
        self.builder.forget(self._owns)
        self.watermarks.forget(self._owns)

    # --- internals -----------------------------------------------------------------------------

    def _owns(self, partition: Partition) -> bool:
        return partition in self.owned

    def _quiet_after(self, rule_id: str) -> timedelta | None:
        compiled = self.engine.rules.get(rule_id)
        return compiled.rule.spec.auto_resolve_after if compiled is not None else None

    def _handle(self, detections: list[Detection]) -> None:
        for detection in detections:
            metrics.FIRINGS.labels(detection.rule_id).inc()
            change: IncidentChange | None = self.builder.on_detection(detection)
            if change is None:
                metrics.INCIDENTS_SUPPRESSED.inc()
                continue
            self.writer.submit(change)

    def _flush_buckets(self) -> None:
        counts = self.engine.drain_buckets()
        if counts:
            self.writer.submit(counts)

    def _refresh_rules(self) -> None:
        update = self.rules.latest()
        if update is None:
            return
        changes = self.engine.set_rules(update.rules)
        for name, reason in changes.refused.items():  # e.g. watching another team's namespace
            log.error("rule refused", rule=name, reason=reason)
        metrics.RULES.labels("valid").set(len(update.rules) - len(changes.refused))
        metrics.RULES.labels("refused").set(len(update.refused) + len(changes.refused))
        if changes.started or changes.stopped:
            log.info("rules changed", started=changes.started, stopped=changes.stopped)
        by_topic: dict[str, list[int]] = {}
        for topic, partition in self.owned:
            by_topic.setdefault(topic, []).append(partition)
        for topic, partitions in by_topic.items():
            self._restore_baselines(topic, partitions, changes.started)
            self._restore_templates(topic, partitions, changes.started)

    def _load(self, topic: str, partitions: Sequence[int], rules: list[str]) -> None:
        """Open incidents, cooldowns and baselines of newly owned partitions."""
        now = self.clock()
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as connection:
                stored = incident_store.open_incidents(connection, topic, partitions)
                resolved = incident_store.last_resolutions(
                    connection, topic, partitions, now - COOLDOWN_LOOKBACK
                )
        except psycopg.Error as error:
            log.warning("could not load open incidents; starting without", error=str(error))
            return
        self.builder.load(
            [
                TrackedIncident(
                    name=incident.name,
                    namespace=incident.namespace,
                    rule_id=incident.rule,
                    key=tuple(incident.group_key.values()),
                    key_fields=incident.group_key,
                    spec=incident.spec,
                    partition=(topic, incident.source_partition or 0),
                    last_active=incident.spec.last_seen,
                )
                for incident in stored
            ],
            resolved,
        )
        self._restore_baselines(topic, partitions, rules)
        self._restore_templates(topic, partitions, rules)

    def _restore_templates(self, topic: str, partitions: Sequence[int], rules: list[str]) -> None:
        """What the services of these partitions logged before, for the newPattern rules."""
        if not partitions or not any(
            self.engine.rules[name].rule.spec.detector.type is DetectorType.NEW_PATTERN
            for name in rules
            if name in self.engine.rules
        ):
            return
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as connection:
                known = template_store.templates_by_service(connection, topic, partitions)
        except psycopg.Error as error:
            log.warning("could not load known templates; learning again", error=str(error))
            return
        seeded = self.engine.learn_templates(
            {
                (namespace, service): (entry.template_ids, entry.since, (topic, entry.partition))
                for (namespace, service), entry in known.items()
                if entry.since is not None
            },
            rules,
        )
        if seeded:
            log.info("known templates restored", keys=seeded)

    def _restore_baselines(self, topic: str, partitions: Sequence[int], rules: list[str]) -> None:
        spans = {}
        for name in rules:
            compiled = self.engine.rules.get(name)
            span = (
                compiled.rule.spec.detector.params.baseline_span() if compiled is not None else None
            )
            if span is not None:
                spans[name] = span
        if not spans or not partitions:
            return
        now = self.clock()
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as connection:
                rows = bucket_store.load_buckets(
                    connection, spans, topic, partitions, now - max(spans.values())
                )
        except psycopg.Error as error:
            log.warning("could not load baselines; starting cold", error=str(error))
            return
        by_rule: dict[str, dict[tuple[str, ...], list[RuleBucket]]] = {}
        for row in rows:
            if row.start < now - spans[row.rule]:
                continue
            by_rule.setdefault(row.rule, {}).setdefault(row.key, []).append(row)
        for name, stored in by_rule.items():
            self.engine.restore(name, stored, now)
        if by_rule:
            log.info(
                "baselines restored",
                rules=sorted(by_rule),
                keys=sum(len(keys) for keys in by_rule.values()),
            )
