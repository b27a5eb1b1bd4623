"""The incident builder: turns detections into incident changes (open, recur, resolve).

- Fingerprint: a hash of the rule and the group key (namespace/service and any other groupBy
  fields), the detection's target. While an incident with that fingerprint is open, further
  detections bump its occurrences and lastSeen instead of opening another.
- Cooldown: after an incident resolves, detections for its fingerprint open nothing for the
  rule's cooldown. A cooldown never hides a condition that still holds: detectors fire once per
  crossing (a continuing silence does not fire again), so a firing held back is kept, and when
  the cooldown ends the incident opens (dated from that firing) if the rule's condition still
  holds for the key; if it no longer does, the firing is dropped.
- Auto-resolve: an open incident whose detector condition no longer holds (see
  KeyedDetector.ongoing) and has not fired for the rule's autoResolveAfter is resolved.

All of it runs on event time: a detection carries the event time it fired at, and tick() is
given the event time of each partition (detection.watermarks), so quiet periods and cooldowns
measure the records' time, and a backlog replayed at full speed opens, recurs and resolves as
live traffic did. Pure logic: the processor persists the changes (PostgreSQL, and the Incident
custom resource in Kubernetes mode) and loads open incidents back after a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from logsentinel.detection.engine import Detection
from logsentinel.detection.matching import Key
from logsentinel.detection.watermarks import EventClock, Partition
from logsentinel.domain.incident import IncidentSpec
from logsentinel.domain.types import hashed_name

MAX_NAME = 253
Ongoing = Callable[[str, Key, datetime], bool]


def fingerprint(rule_id: str, key: Key) -> str:
    """The identity of "this rule against this target": stable across processors and restarts."""
    text = "\x1f".join((rule_id, *key))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def incident_name(rule_name: str, print_: str, first_seen: datetime) -> str:
    """A DNS-subdomain name, unique per opening: the rule name and a hash of when it opened."""
    return hashed_name(rule_name, f"{print_}@{first_seen.isoformat()}", MAX_NAME)


class ChangeKind(StrEnum):
    OPENED = "opened"
    RECURRED = "recurred"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class TrackedIncident:
    """An open incident as the builder knows it."""

    name: str
    namespace: str
    rule_id: str
    key: Key
    key_fields: dict[str, str]
    spec: IncidentSpec
    partition: Partition | None
    last_active: datetime
    """Event time the condition last held or fired; the quiet period counts from here."""


@dataclass(frozen=True)
class IncidentChange:
    kind: ChangeKind
    incident: TrackedIncident
    at: datetime
    """Event time of the change."""
    pod: str = ""
    """For OPENED: the pod of the latest matching record, to resolve the target workload."""
    resolution: str = ""


@dataclass(frozen=True)
class HeldBack:
    """Firings a cooldown held back for a fingerprint: the first (when the condition began) and
    the latest (its evidence)."""

    first: Detection
    latest: Detection
    count: int


class IncidentBuilder:
    """Keeps the open incidents of the keys this processor owns."""

    def __init__(self, ongoing: Ongoing) -> None:
        self.ongoing = ongoing
        self.open: dict[str, TrackedIncident] = {}  # by fingerprint
        self.resolved_at: dict[str, datetime] = {}  # by fingerprint, for cooldowns
        self.held_back: dict[str, HeldBack] = {}  # by fingerprint, until the cooldown ends
        self.suppressed = 0

    def load(self, incidents: Iterable[TrackedIncident], resolved: Mapping[str, datetime]) -> None:
        """Adopt incidents opened before (another processor, or before a restart)."""
        for incident in incidents:
            self.open[incident.spec.fingerprint] = incident
        for print_, at in resolved.items():
            known = self.resolved_at.get(print_)
            if known is None or at > known:
                self.resolved_at[print_] = at

    def on_detection(self, detection: Detection) -> IncidentChange | None:
        rule = detection.rule
        print_ = fingerprint(detection.rule_id, detection.key)
        firing = detection.firing
        now = firing.at
        current = self.open.get(print_)
        if current is not None:
            spec = current.spec.model_copy(
                update={
                    "occurrences": current.spec.occurrences + 1,
                    "last_seen": max(current.spec.last_seen, firing.at),
                    "evidence": detection.evidence,
                }
            )
            updated = replace(current, spec=spec, last_active=max(current.last_active, now))
            self.open[print_] = updated
            return IncidentChange(ChangeKind.RECURRED, updated, now)
        resolved = self.resolved_at.get(print_)
        if resolved is not None and now < resolved + rule.spec.cooldown:
            self.suppressed += 1
            held = self.held_back.get(print_)
            self.held_back[print_] = (
                HeldBack(detection, detection, 1)
                if held is None
                else replace(held, latest=detection, count=held.count + 1)
            )
            return None
        held = self.held_back.pop(print_, None)
        if held is None:
            return self._open(print_, detection, detection.firing.at, 1, now)
        return self._open(print_, detection, held.first.firing.at, held.count + 1, now)

    def _open(
        self, print_: str, latest: Detection, since: datetime, occurrences: int, now: datetime
    ) -> IncidentChange:
        rule, firing = latest.rule, latest.firing
        spec = IncidentSpec(
            rule=rule.metadata.name,
            incident_type=rule.spec.incident_type,
            severity=rule.spec.severity,
            fingerprint=print_,
            service=latest.service or latest.key[-1] or "unknown",
            summary=_summary(latest),
            first_seen=since,
            last_seen=firing.at,
            occurrences=occurrences,
            evidence=latest.evidence,
        )
        incident = TrackedIncident(
            name=incident_name(rule.metadata.name, print_, since),
            namespace=latest.namespace or rule.metadata.namespace or "default",
            rule_id=latest.rule_id,
            key=latest.key,
            key_fields=latest.key_fields,
            spec=spec,
            partition=latest.partition,
            last_active=now,
        )
        self.open[print_] = incident
        return IncidentChange(ChangeKind.OPENED, incident, now, pod=latest.pod)

    def tick(
        self, clock: EventClock, quiet_after: Callable[[str], timedelta | None]
    ) -> list[IncidentChange]:
        """Resolve incidents quiet for their rule's autoResolveAfter, and open those whose
        firing a cooldown held back if, now that it is over, the condition still holds.

        clock(partition) is the event time of the incident's partition (None: not known yet,
        nothing is decided). quiet_after(rule_id) returns the rule's autoResolveAfter (a
        timedelta), or None when the rule is gone, in which case its incidents resolve at once
        (and held-back firings drop).
        """
        changes = self._release_held_back(clock, quiet_after)
        for print_, incident in list(self.open.items()):
            now = clock(incident.partition)
            if now is None:
                continue
            if self.ongoing(incident.rule_id, incident.key, now):
                self.open[print_] = replace(incident, last_active=max(incident.last_active, now))
                continue
            quiet = quiet_after(incident.rule_id)
            if quiet is not None and now < incident.last_active + quiet:
                continue
            if quiet is None:
                changes.append(self.resolve(print_, now, "rule removed"))
            else:  # dated when the quiet period ended, however late a tick noticed
                at = incident.last_active + quiet
                changes.append(self.resolve(print_, at, "quiet for autoResolveAfter"))
        return changes

    def _release_held_back(
        self, clock: EventClock, quiet_after: Callable[[str], timedelta | None]
    ) -> list[IncidentChange]:
        opened = []
        for print_, held in list(self.held_back.items()):
            latest = held.latest
            if quiet_after(latest.rule_id) is None:  # the rule is gone
                del self.held_back[print_]
                continue
            now = clock(latest.partition)
            if now is None:
                continue
            resolved = self.resolved_at.get(print_)
            if resolved is not None and now < resolved + latest.rule.spec.cooldown:
                continue
            del self.held_back[print_]
            if print_ not in self.open and self.ongoing(latest.rule_id, latest.key, now):
                opened.append(self._open(print_, latest, held.first.firing.at, held.count, now))
        return opened

    def resolve(self, print_: str, now: datetime, resolution: str) -> IncidentChange:
        incident = self.open.pop(print_)
        self.resolved_at[print_] = now
        return IncidentChange(ChangeKind.RESOLVED, incident, now, resolution=resolution)

    def closed_elsewhere(self, print_: str, at: datetime) -> None:
        """Someone else (a person, the operator) resolved it: forget it, start the cooldown."""
        if self.open.pop(print_, None) is not None:
            self.resolved_at[print_] = at

    def forget(self, owned: Callable[[Partition], bool]) -> None:
        """Stop tracking incidents of partitions now owned by another processor."""
        for print_, incident in list(self.open.items()):
            if incident.partition is not None and not owned(incident.partition):
                del self.open[print_]
        for print_, held in list(self.held_back.items()):
            if held.latest.partition is not None and not owned(held.latest.partition):
                del self.held_back[print_]


def _summary(detection: Detection) -> str:
    """e.g. 'count 50 reached 50 for shop/checkout: Fifty or more error lines in a minute'."""
    firing = detection.firing
    subject = "/".join(part for part in detection.key if part)
    description = detection.rule.spec.description.strip() or detection.rule.metadata.name
    text = (
        f"{firing.statistic} {firing.value:.4g} reached {firing.threshold:.4g} for {subject}: "
        f"{description.rstrip('.')}"
    )
    return text[:1024]
