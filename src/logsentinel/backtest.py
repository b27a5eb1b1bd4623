"""Backtesting: the incidents rules would have opened over stored logs, before applying them.

Reads the stored records of a time range in event-time order (storage.replay) and replays the
rules over them exactly as the processor runs them (detection.replay, on event time), then lists
the incidents with their evidence. Nothing is written anywhere. The read is narrowed to what the
rules can see: their namespaces and services, and, when no rule's detector looks at records it
does not match, their match levels.

Used by ``logsentinel backtest`` and ``POST /api/v1/rules/backtest``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from logsentinel.detection.catalog import build
from logsentinel.detection.engine import home_namespace
from logsentinel.detection.replay import Replay, ReplayedIncident
from logsentinel.domain.resources import DetectionRule
from logsentinel.storage.replay import StoredRange, stored_records

PROGRESS_EVERY = 100_000
"""Records between two progress reports."""


@dataclass
class BacktestResult:
    """What the rules would have done over [since, until)."""

    since: datetime
    until: datetime
    records: int = 0
    """Stored records read (those the rules could see)."""
    seconds: float = 0.0
    incidents: list[ReplayedIncident] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    """Rules that cannot run, and why (e.g. watching another team's namespace)."""

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def narrowed(rules: Sequence[DetectionRule], since: datetime, until: datetime) -> StoredRange:
    """The stored records any of the rules can see, as a range with filters."""
    namespaces: set[str] = set()
    services: set[str] = set()
    levels: set[str] = set()
    any_namespace = any_service = any_level = False
    for rule in rules:
        spec = rule.spec
        selector = spec.selector
        if selector.all_namespaces:
            any_namespace = True
        namespaces.update(selector.namespaces or [home_namespace(rule)])
        if selector.services:
            services.update(selector.services)
        else:
            any_service = True
        if spec.match.levels and not build(spec.detector).needs_unmatched:
            levels.update(level.value for level in spec.match.levels)
        else:
            any_level = True
    return StoredRange(
        attributes=any(_reads_attributes(rule) for rule in rules),
        since=since,
        until=until,
        namespaces=() if any_namespace else sorted(namespaces),
        services=() if any_service else sorted(services),
        levels=() if any_level else sorted(levels),
    )


def _reads_attributes(rule: DetectionRule) -> bool:
    """Whether the rule looks at record attributes (field matches, latencies, feature
    vectors, group keys beyond the record's own columns)."""
    spec = rule.spec
    own_columns = {"namespace", "service", "pod", "container", "node"}
    return (
        bool(spec.match.fields)
        or spec.detector.params.reads_attributes()
        or any(key not in own_columns for key in spec.detector.group_by)
    )


def backtest(
    connection: psycopg.Connection[Any],
    rules: Sequence[DetectionRule],
    since: datetime,
    until: datetime,
    *,
    progress: Callable[[int, datetime], None] | None = None,
) -> BacktestResult:
    """Replay rules over the stored records of [since, until); progress(records, event time)
    is called every PROGRESS_EVERY records."""
    began = time.perf_counter()
    replay = Replay(list(rules), start=since)
    result = BacktestResult(since=since, until=until, refused=dict(replay.refused))
    if len(replay.refused) < len(rules):
        chunk = []
        for record in stored_records(connection, narrowed(rules, since, until)):
            chunk.append(record)
            if len(chunk) >= PROGRESS_EVERY:
                replay.feed(chunk)
                chunk = []
                if progress is not None:
                    progress(replay.records, record.timestamp)
        replay.feed(chunk)
        result.incidents = replay.finish(until)
    result.records = replay.records
    result.seconds = time.perf_counter() - began
    return result


def result_document(result: BacktestResult) -> dict[str, Any]:
    """The result as JSON-ready data (what the API returns and ``--json`` prints)."""
    return {
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "records": result.records,
        "seconds": round(result.seconds, 3),
        "refused": result.refused,
        "incidents": [
            {
                "rule": incident.rule_id,
                "namespace": incident.namespace,
                "service": incident.spec.service,
                "groupKey": incident.key_fields,
                "firstSeen": incident.spec.first_seen.isoformat(),
                "lastSeen": incident.spec.last_seen.isoformat(),
                "occurrences": incident.spec.occurrences,
                "summary": incident.spec.summary,
                "resolvedAt": incident.resolved_at.isoformat() if incident.resolved_at else None,
                "evidence": incident.spec.evidence.model_dump(mode="json", by_alias=True),
            }
            for incident in result.incidents
        ],
    }
