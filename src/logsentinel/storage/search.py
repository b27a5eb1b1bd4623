"""Log search for the API: full text, filters, a time range, newest first, keyset pagination.

The cursor is the (ts, id) of the last row returned, so a page never skips or repeats rows when
new logs arrive meanwhile; the full-text condition matches the logs_message_fts index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from logsentinel.storage.schema import TEXT_SEARCH_CONFIG


@dataclass(frozen=True)
class LogQuery:
    text: str | None = None
    services: Sequence[str] = ()
    namespaces: Sequence[str] = ()
    levels: Sequence[str] = ()
    templates: Sequence[str] = ()
    pods: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, int] | None = None  # the cursor: older than this (ts, id)
    limit: int = 100


@dataclass(frozen=True)
class FoundLog:
    id: int
    timestamp: datetime
    level: str
    service: str
    namespace: str
    pod: str
    message: str
    template_id: str | None
    trace_id: str | None
    attributes: dict[str, Any]


def search(connection: psycopg.Connection[Any], query: LogQuery) -> list[FoundLog]:
    conditions: list[str] = []
    parameters: list[Any] = []
    if query.text:
        conditions.append(
            f"to_tsvector('{TEXT_SEARCH_CONFIG}', message) @@ "
            f"plainto_tsquery('{TEXT_SEARCH_CONFIG}', %s)"
        )
        parameters.append(query.text)
    for column, values in (
        ("service", query.services),
        ("namespace", query.namespaces),
        ("level::text", query.levels),
        ("template_id", query.templates),
        ("pod", query.pods),
    ):
        if values:
            conditions.append(f"{column} = ANY(%s)")
            parameters.append(list(values))
    if query.since is not None:
        conditions.append("ts >= %s")
        parameters.append(query.since)
    if query.until is not None:
        conditions.append("ts < %s")
        parameters.append(query.until)
    if query.after is not None:
        conditions.append("(ts, id) < (%s, %s)")
        parameters.extend(query.after)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = connection.execute(
        f"SELECT {FOUND_COLUMNS} FROM logs {where} ORDER BY ts DESC, id DESC LIMIT %s",
        [*parameters, query.limit],
    ).fetchall()
    return [_found(row) for row in rows]


FOUND_COLUMNS = (
    "id, ts, level::text, service, namespace, pod, message, template_id, trace_id, attributes"
)
CONTEXT_REACH = timedelta(hours=1)
"""How far from the line its context is looked for (it bounds the partitions read)."""


def _found(row: Sequence[Any]) -> FoundLog:
    return FoundLog(
        id=row[0],
        timestamp=row[1],
        level=row[2],
        service=row[3],
        namespace=row[4],
        pod=row[5],
        message=row[6],
        template_id=row[7],
        trace_id=row[8],
        attributes=dict(row[9] or {}),
    )


@dataclass(frozen=True)
class LogContext:
    """A stored line with the lines its pod wrote just before and just after it (oldest first)."""

    before: list[FoundLog]
    line: FoundLog
    after: list[FoundLog]


def context(
    connection: psycopg.Connection[Any], timestamp: datetime, row_id: int, lines: int
) -> LogContext | None:
    """The line (timestamp, row_id) and up to ``lines`` lines of the same service and pod on each
    side of it, within CONTEXT_REACH; None when no such line is stored."""
    row = connection.execute(
        f"SELECT {FOUND_COLUMNS} FROM logs WHERE ts = %s AND id = %s", (timestamp, row_id)
    ).fetchone()
    if row is None:
        return None
    line = _found(row)
    same_stream = "service = %s AND namespace = %s AND pod = %s"
    stream = (line.service, line.namespace, line.pod)
    before = connection.execute(
        f"SELECT {FOUND_COLUMNS} FROM logs WHERE {same_stream} AND ts >= %s"
        " AND (ts, id) < (%s, %s) ORDER BY ts DESC, id DESC LIMIT %s",
        (*stream, timestamp - CONTEXT_REACH, timestamp, row_id, lines),
    ).fetchall()
    after = connection.execute(
        f"SELECT {FOUND_COLUMNS} FROM logs WHERE {same_stream} AND ts <= %s"
        " AND (ts, id) > (%s, %s) ORDER BY ts, id LIMIT %s",
        (*stream, timestamp + CONTEXT_REACH, timestamp, row_id, lines),
    ).fetchall()
    return LogContext(
        before=[_found(r) for r in reversed(before)],
        line=line,
        after=[_found(r) for r in after],
    )


@dataclass(frozen=True)
class Volume:
    start: datetime
    service: str
    total: int
    errors: int


@dataclass(frozen=True)
class TemplateCount:
    template_id: str
    count: int
    example: str


ERROR_LEVELS = ("error", "fatal")


def volume(
    connection: psycopg.Connection[Any],
    since: datetime,
    until: datetime,
    interval_seconds: int,
    services: Sequence[str] = (),
) -> list[Volume]:
    """Lines and error lines per service per interval (intervals aligned to the epoch)."""
    service_filter = "AND service = ANY(%s)" if services else ""
    rows = connection.execute(
        f"""
        SELECT date_bin(make_interval(secs => %s), ts, TIMESTAMPTZ 'epoch') AS start, service,
            count(*), count(*) FILTER (WHERE level::text = ANY(%s))
        FROM logs WHERE ts >= %s AND ts < %s {service_filter}
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        [
            interval_seconds,
            list(ERROR_LEVELS),
            since,
            until,
            *([list(services)] if services else []),
        ],
    ).fetchall()
    return [Volume(row[0], row[1], int(row[2]), int(row[3])) for row in rows]


def top_templates(
    connection: psycopg.Connection[Any],
    since: datetime,
    until: datetime,
    limit: int,
    services: Sequence[str] = (),
) -> list[TemplateCount]:
    """The most frequent templates in the range, with one example line each."""
    service_filter = "AND service = ANY(%s)" if services else ""
    rows = connection.execute(
        f"""
        SELECT template_id, count(*), min(message) FROM logs
        WHERE ts >= %s AND ts < %s AND template_id IS NOT NULL {service_filter}
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s
        """,
        [since, until, *([list(services)] if services else []), limit],
    ).fetchall()
    return [TemplateCount(row[0], int(row[1]), row[2]) for row in rows]
