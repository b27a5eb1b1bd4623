"""Stored logs read back in event-time order, as records, for replaying rules (backtesting).

A server-side cursor streams the rows of a time range (narrowed by namespaces, services and
levels where the caller can say so) oldest first, so memory stays flat however long the range.
Rows were validated when they were stored; they become LogRecords without validating again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from logsentinel.domain.base import trusted
from logsentinel.domain.logrecord import Level, LogRecord, SourcePosition

FETCH_ROWS = 20_000
"""Rows per round trip of the cursor."""

_COLUMNS = (
    "ts, level::text, service, namespace, pod, container, node, stream, message, template_id,"
    " trace_id, {attributes}, source_topic, source_partition, source_offset"
)


@dataclass(frozen=True)
class StoredRange:
    """Which stored records to read: [since, until), and optional filters (empty: any)."""

    since: datetime
    until: datetime
    namespaces: Sequence[str] = ()
    services: Sequence[str] = ()
    levels: Sequence[str] = ()
    attributes: bool = True
    """Whether the records need their attributes (parsing them is half the cost of a read)."""


def count(connection: psycopg.Connection[Any], wanted: StoredRange) -> int:
    """How many stored records the range holds (filters included)."""
    where, parameters = _where(wanted)
    row = connection.execute(f"SELECT count(*) FROM logs WHERE {where}", parameters).fetchone()
    return int(row[0]) if row else 0


def stored_records(connection: psycopg.Connection[Any], wanted: StoredRange) -> Iterator[LogRecord]:
    """The range's records, oldest first (ties in storage order)."""
    where, parameters = _where(wanted)
    levels = {level.value: level for level in Level}
    columns = _COLUMNS.format(attributes="attributes" if wanted.attributes else "NULL")
    # a server-side cursor lives in a transaction (the API's connections are autocommit)
    with connection.transaction(), connection.cursor(name="replay", binary=True) as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(f"SELECT {columns} FROM logs WHERE {where} ORDER BY ts, id", parameters)
        for row in cursor:
            (ts, level, service, namespace, pod, container, node, stream, message) = row[:9]
            template_id, trace_id, attributes, topic, partition, offset = row[9:]
            source = None
            if topic is not None and partition is not None and offset is not None:
                source = trusted(
                    SourcePosition, {"topic": topic, "partition": partition, "offset": offset}
                )
            yield trusted(
                LogRecord,
                {
                    "timestamp": ts,
                    "level": levels.get(level, Level.UNKNOWN),
                    "message": message,
                    "service": service,
                    "namespace": namespace,
                    "pod": pod,
                    "container": container,
                    "node": node,
                    "stream": stream,
                    "labels": {},
                    "template_id": template_id,
                    "trace_id": trace_id,
                    "attributes": attributes or {},
                    "source": source,
                },
            )


def _where(wanted: StoredRange) -> tuple[str, list[Any]]:
    conditions = ["ts >= %s", "ts < %s"]
    parameters: list[Any] = [wanted.since, wanted.until]
    for column, values in (
        ("namespace", wanted.namespaces),
        ("service", wanted.services),
        ("level::text", wanted.levels),
    ):
        if values:
            conditions.append(f"{column} = ANY(%s)")
            parameters.append(list(values))
    return " AND ".join(conditions), parameters
