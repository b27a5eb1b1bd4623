"""Rules over an ordered stream of records, as the processor runs them, at full speed.

The engine and the incident builder run on event time (detection.watermarks), so a stream
replayed here opens, recurs and resolves the same incidents as it did live: the replay steps a
clock through the records' own time, one tick per `step` of event time, with the processor's
grace. This is what backtesting (``logsentinel backtest``, ``POST /api/v1/rules/backtest``) and
the detection-quality benchmark run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from logsentinel.detection.engine import Detection, RuleEngine
from logsentinel.detection.incident_builder import ChangeKind, IncidentBuilder, IncidentChange
from logsentinel.detection.matching import TemplateText
from logsentinel.detection.watermarks import EVENT_TIME_GRACE, fixed
from logsentinel.domain.incident import IncidentSpec
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.resources import DetectionRule

STEP = timedelta(seconds=1)
"""Event time between two ticks: the processor ticks once a second."""
DRAIN_EVERY = 60
"""Ticks between drains of the per-interval aggregates (a replay stores none)."""

Observer = Callable[[Detection, IncidentChange | None], None]
"""Told of every firing and what the incident builder made of it (None: held back by a
cooldown)."""


@dataclass
class ReplayedIncident:
    """An incident the replay opened, as it stood at the end (or when it resolved)."""

    rule_id: str
    namespace: str
    key_fields: dict[str, str]
    spec: IncidentSpec
    resolved_at: datetime | None = None
    resolution: str = ""


@dataclass
class Replay:
    """Feed records in event-time order, then finish(end)."""

    rules: Sequence[DetectionRule]
    start: datetime | None = None
    """Where event time starts (default: at the first record)."""
    step: timedelta = STEP
    grace: timedelta = EVENT_TIME_GRACE
    observer: Observer | None = None
    template_text: TemplateText = lambda _id: None
    incidents: list[ReplayedIncident] = field(default_factory=list)
    records: int = 0

    def __post_init__(self) -> None:
        self.engine = RuleEngine(self.template_text)
        self.refused = self.engine.set_rules(self.rules).refused
        self.builder = IncidentBuilder(self.engine.ongoing)
        self._open: dict[str, ReplayedIncident] = {}  # by incident name
        self._boundary = self.start + self.step if self.start is not None else None
        self._batch: list[LogRecord] = []
        self._ticks = 0

    @property
    def evaluations(self) -> int:
        return self.engine.evaluations

    def feed(self, records: Iterable[LogRecord]) -> None:
        """Records in event-time order (later calls continue the stream)."""
        step = self.step
        batch = self._batch
        boundary = self._boundary
        for record in records:
            if boundary is None:
                boundary = self._boundary = record.timestamp + step
            while record.timestamp >= boundary:
                self._advance(boundary)
                batch = self._batch
                boundary = self._boundary = boundary + step
            batch.append(record)
            self.records += 1
        self._boundary = boundary

    def finish(self, end: datetime) -> list[ReplayedIncident]:
        """Let event time run to end (silences and intervals up to it are decided); every
        incident the replay opened."""
        boundary = self._boundary
        while boundary is not None and boundary <= end + self.grace:
            self._advance(boundary)
            boundary = self._boundary = boundary + self.step
        if self._batch:
            self._advance(end + self.grace)
        return self.incidents

    def _advance(self, boundary: datetime) -> None:
        batch, self._batch = self._batch, []
        if batch:
            self._handle(self.engine.observe(batch))
        clock = fixed(boundary - self.grace)
        self._handle(self.engine.tick(clock))
        for change in self.builder.tick(clock, self._quiet_after):
            self._apply(change)
        self._ticks += 1
        if self._ticks % DRAIN_EVERY == 0:
            self.engine.drain_buckets()

    def _quiet_after(self, rule_id: str) -> timedelta | None:
        compiled = self.engine.rules.get(rule_id)
        return compiled.rule.spec.auto_resolve_after if compiled is not None else None

    def _handle(self, detections: list[Detection]) -> None:
        for detection in detections:
            change = self.builder.on_detection(detection)
            if self.observer is not None:
                self.observer(detection, change)
            if change is not None:
                self._apply(change)

    def _apply(self, change: IncidentChange) -> None:
        incident = change.incident
        if change.kind is ChangeKind.OPENED:
            replayed = ReplayedIncident(
                incident.rule_id, incident.namespace, incident.key_fields, incident.spec
            )
            self._open[incident.name] = replayed
            self.incidents.append(replayed)
            return
        replayed_incident = self._open.get(incident.name)
        if replayed_incident is None:
            return
        replayed_incident.spec = incident.spec
        if change.kind is ChangeKind.RESOLVED:
            replayed_incident.resolved_at = change.at
            replayed_incident.resolution = change.resolution
            del self._open[incident.name]
