"""Incidents and their event timeline in PostgreSQL (psycopg, one statement per change).

The partial unique index incidents_open_fingerprint makes "one open incident per fingerprint" a
database fact: two processors (or one replaying after a crash) that both try to open the same
incident end up with one row, and the loser learns the winner's name.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from logsentinel.domain.common import WorkloadRef
from logsentinel.domain.incident import Evidence, IncidentSpec

PROCESSOR_ACTOR = "logsentinel-processor"


def _json(model: Any) -> Jsonb:
    return Jsonb(model.model_dump(mode="json", by_alias=True, exclude_none=True))


@dataclass(frozen=True)
class StoredIncident:
    """An open incident as stored, enough to keep deduplicating it after a restart."""

    name: str
    namespace: str
    rule: str
    group_key: dict[str, str]
    spec: IncidentSpec
    source_topic: str | None
    source_partition: int | None
    updated_at: datetime


def open_incident(
    connection: psycopg.Connection[Any],
    *,
    name: str,
    namespace: str,
    rule: str,
    group_key: Mapping[str, str],
    spec: IncidentSpec,
    source: tuple[str, int] | None,
    actor: str = PROCESSOR_ACTOR,
) -> str:
    """Store a new open incident; when one is already open for the fingerprint, its name."""
    with connection.transaction():
        inserted = connection.execute(
            """
            INSERT INTO incidents (name, namespace, fingerprint, rule, service, group_key,
                incident_type, severity, summary, first_seen, last_seen, occurrences, target,
                evidence, source_topic, source_partition)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT DO NOTHING
            RETURNING name
            """,
            (
                name,
                namespace,
                spec.fingerprint,
                rule,
                spec.service,
                Jsonb(dict(group_key)),
                spec.incident_type,
                spec.severity.value,
                spec.summary,
                spec.first_seen,
                spec.last_seen,
                spec.occurrences,
                _json(spec.target) if spec.target is not None else None,
                _json(spec.evidence),
                source[0] if source else None,
                source[1] if source else None,
            ),
        ).fetchone()
        if inserted is None:
            existing = connection.execute(
                "SELECT name FROM incidents WHERE fingerprint = %s AND resolved_at IS NULL",
                (spec.fingerprint,),
            ).fetchone()
            if existing is not None:
                return str(existing[0])
            raise RuntimeError(f"incident {name!r} exists already and is resolved")
        add_event(connection, name, "opened", actor, {"summary": spec.summary})
        announce(connection, name)
        return name


CHANGES_CHANNEL = "logsentinel_incident_changes"
"""PostgreSQL notification channel: an incident was opened, or a person asked something of it
(approve, resolve) through the API; the payload is its name. Sent on commit."""


def announce(connection: psycopg.Connection[Any], name: str) -> None:
    """Tell listeners (the Compose remediator) that incident ``name`` changed."""
    connection.execute("SELECT pg_notify(%s, %s)", (CHANGES_CHANNEL, name))


class ChangeListener:
    """Waits for incident change notifications on a connection of its own (reconnected when it
    breaks), so that a remediator acts at once instead of at its next poll."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._connection: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> bool:
        """Whether a change arrived within ``timeout`` seconds (False also when the database is
        away: the caller polls anyway)."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(self.conninfo, autocommit=True)
                self._connection.execute(f"LISTEN {CHANGES_CHANNEL}")
            return any(True for _ in self._connection.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error:
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def record_recurrence(
    connection: psycopg.Connection[Any],
    name: str,
    *,
    occurrences: int,
    last_seen: datetime,
    evidence: Evidence,
    actor: str = PROCESSOR_ACTOR,
) -> bool:
    """Update an open incident after another firing; False when it was resolved meanwhile."""
    with connection.transaction():
        updated = connection.execute(
            """
            UPDATE incidents SET occurrences = GREATEST(occurrences, %s),
                last_seen = GREATEST(last_seen, %s), evidence = %s, updated_at = now()
            WHERE name = %s AND resolved_at IS NULL
            RETURNING name
            """,
            (occurrences, last_seen, _json(evidence), name),
        ).fetchone()
        if updated is None:
            return False
        add_event(connection, name, "recurred", actor, {"occurrences": occurrences})
        return True


def set_target(connection: psycopg.Connection[Any], name: str, target: WorkloadRef) -> None:
    connection.execute(
        "UPDATE incidents SET target = %s, updated_at = now() WHERE name = %s",
        (_json(target), name),
    )


def resolve_incident(
    connection: psycopg.Connection[Any],
    name: str,
    *,
    at: datetime,
    resolution: str,
    actor: str = PROCESSOR_ACTOR,
) -> bool:
    """Mark an open incident resolved; False when it was not open."""
    with connection.transaction():
        updated = connection.execute(
            """
            UPDATE incidents SET resolved_at = %s, resolution = %s, phase = 'Resolved',
                updated_at = now()
            WHERE name = %s AND resolved_at IS NULL
            RETURNING name
            """,
            (at, resolution, name),
        ).fetchone()
        if updated is None:
            return False
        add_event(connection, name, "resolved", actor, {"resolution": resolution})
        return True


def add_event(
    connection: psycopg.Connection[Any],
    incident: str,
    kind: str,
    actor: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    connection.execute(
        "INSERT INTO incident_events (incident, kind, actor, detail) VALUES (%s, %s, %s, %s)",
        (incident, kind, actor, Jsonb(dict(detail or {}))),
    )


def open_incidents(
    connection: psycopg.Connection[Any], topic: str, partitions: Iterable[int]
) -> list[StoredIncident]:
    """The open incidents whose records come from these partitions."""
    rows = connection.execute(
        """
        SELECT name, namespace, rule, group_key, service, incident_type, severity, fingerprint,
            summary, first_seen, last_seen, occurrences, target, evidence, source_topic,
            source_partition, updated_at
        FROM incidents
        WHERE resolved_at IS NULL AND source_topic = %s AND source_partition = ANY(%s)
        """,
        (topic, list(partitions)),
    ).fetchall()
    stored = []
    for row in rows:
        spec = IncidentSpec.model_validate(
            {
                "rule": row[2].rpartition("/")[2],
                "incidentType": row[5],
                "severity": row[6],
                "fingerprint": row[7],
                "service": row[4],
                "summary": row[8],
                "firstSeen": row[9],
                "lastSeen": row[10],
                "occurrences": row[11],
                "target": row[12],
                "evidence": row[13],
            }
        )
        stored.append(
            StoredIncident(
                name=row[0],
                namespace=row[1],
                rule=row[2],
                group_key=dict(row[3]),
                spec=spec,
                source_topic=row[14],
                source_partition=row[15],
                updated_at=row[16],
            )
        )
    return stored


def last_resolutions(
    connection: psycopg.Connection[Any], topic: str, partitions: Iterable[int], since: datetime
) -> dict[str, datetime]:
    """fingerprint -> latest resolved_at since since, for cooldowns after a restart."""
    rows = connection.execute(
        """
        SELECT fingerprint, max(resolved_at) FROM incidents
        WHERE resolved_at >= %s AND source_topic = %s AND source_partition = ANY(%s)
        GROUP BY fingerprint
        """,
        (since, topic, list(partitions)),
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def rule_and_group_key(
    connection: psycopg.Connection[Any], name: str, namespace: str
) -> tuple[str, dict[str, str]] | None:
    """The rule (``namespace/name``) that opened incident ``name`` and its group key's values;
    None when the database does not know the incident."""
    row = connection.execute(
        "SELECT rule, group_key FROM incidents WHERE name = %s AND namespace = %s",
        (name, namespace),
    ).fetchone()
    return None if row is None else (str(row[0]), {str(k): str(v) for k, v in row[1].items()})


def is_open(connection: psycopg.Connection[Any], name: str) -> bool:
    row = connection.execute(
        "SELECT resolved_at IS NULL FROM incidents WHERE name = %s", (name,)
    ).fetchone()
    return bool(row and row[0])


def events(connection: psycopg.Connection[Any], incident: str) -> list[dict[str, Any]]:
    """The timeline of an incident, oldest first."""
    rows = connection.execute(
        "SELECT at, kind, actor, detail FROM incident_events WHERE incident = %s ORDER BY at, id",
        (incident,),
    ).fetchall()
    return [
        {"at": at, "kind": kind, "actor": actor, "detail": detail}
        for at, kind, actor, detail in rows
    ]


def set_phase(
    connection: psycopg.Connection[Any], namespace: str, name: str, phase: str, actor: str
) -> bool:
    """The phase the operator moved an incident to; recorded in the timeline too."""
    cursor = connection.execute(
        "UPDATE incidents SET phase = %s, updated_at = now() WHERE name = %s AND namespace = %s",
        (phase, name, namespace),
    )
    if cursor.rowcount:
        add_event(connection, name, "phase", actor, {"phase": phase})
    return cursor.rowcount == 1


LISTED = (
    "name, namespace, rule, service, incident_type, severity, phase, summary, first_seen, "
    "last_seen, occurrences, target, opened_at, resolved_at, resolution"
)


def _listed(row: Any) -> dict[str, Any]:
    keys = [column.strip() for column in LISTED.split(",")]
    return dict(zip(keys, row, strict=True))


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents a listing or a count covers (every given condition holds)."""

    open_only: bool = False
    namespace: str | None = None
    severity: str | None = None
    rule: str | None = None
    """namespace/name, or a name in any namespace."""
    phase: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        parameters: list[Any] = []
        if self.open_only:
            conditions.append("resolved_at IS NULL")
        for column, value in (
            ("namespace", self.namespace),
            ("severity", self.severity),
            ("phase", self.phase),
        ):
            if value:
                conditions.append(f"{column} = %s")
                parameters.append(value)
        if self.rule:
            conditions.append("(rule = %s OR rule LIKE %s)")
            parameters.extend([self.rule, f"%/{self.rule}"])
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), parameters


def list_incidents(
    connection: psycopg.Connection[Any],
    chosen: IncidentFilter = IncidentFilter(),
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first; ``offset`` skips that many of them."""
    where, parameters = chosen.where()
    rows = connection.execute(
        f"SELECT {LISTED} FROM incidents {where} ORDER BY opened_at DESC, name LIMIT %s OFFSET %s",
        [*parameters, limit, offset],
    ).fetchall()
    return [_listed(row) for row in rows]


def count_incidents(
    connection: psycopg.Connection[Any], chosen: IncidentFilter = IncidentFilter()
) -> int:
    """How many incidents list_incidents would list without a limit."""
    where, parameters = chosen.where()
    row = connection.execute(f"SELECT count(*) FROM incidents {where}", parameters).fetchone()
    return int(row[0]) if row else 0


def open_counts(connection: psycopg.Connection[Any]) -> list[tuple[str, str, int]]:
    """Open incidents counted by (severity, phase)."""
    rows = connection.execute(
        "SELECT severity, phase, count(*) FROM incidents WHERE resolved_at IS NULL"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return [(row[0], row[1], int(row[2])) for row in rows]


def get_incident(connection: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    """One incident with its evidence and fingerprint."""
    row = connection.execute(
        f"SELECT {LISTED}, evidence, fingerprint FROM incidents WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        return None
    found = _listed(row[:-2])
    found["evidence"] = row[-2]
    found["fingerprint"] = row[-1]
    return found


__all__ = [
    "CHANGES_CHANNEL",
    "ChangeListener",
    "IncidentFilter",
    "StoredIncident",
    "add_event",
    "announce",
    "count_incidents",
    "events",
    "get_incident",
    "is_open",
    "last_resolutions",
    "list_incidents",
    "open_counts",
    "open_incident",
    "open_incidents",
    "record_recurrence",
    "resolve_incident",
    "set_phase",
    "set_target",
]
