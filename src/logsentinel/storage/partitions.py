"""Daily partitions of the logs table: created on demand for the days a batch touches, dropped
whole by retention (a DROP of a partition is instant, unlike DELETE of its rows).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

PARENT = "logs"
_NAME = re.compile(r"^logs_(\d{8})$")
_LOCK_KEY = zlib.crc32(b"logsentinel.partitions")


def partition_name(day: date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


class PartitionManager:
    """Remembers which daily partitions exist so that the hot path asks the database rarely."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    def ensure(self, connection: psycopg.Connection[Any], days: Iterable[date]) -> None:
        """Create the missing partitions for days, inside the caller's transaction."""
        missing = sorted(set(days) - self._known)
        if not missing:
            return
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; serialise.
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        existing = set(existing_partitions(connection))
        for day in missing:
            if day not in existing:
                start, end = _bounds(day)
                connection.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(partition_name(day)),
                        sql.Identifier(PARENT),
                        sql.Literal(start),
                        sql.Literal(end),
                    )
                )
        self._known.update(missing)

    def forget(self) -> None:
        """Drop the cache (after a failed transaction the partitions may not exist)."""
        self._known.clear()


def existing_partitions(connection: psycopg.Connection[Any]) -> list[date]:
    """The days that have a partition, oldest first."""
    rows = connection.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (PARENT,),
    ).fetchall()
    days = []
    for (name,) in rows:
        match = _NAME.match(str(name))
        if match:
            days.append(datetime.strptime(match[1], "%Y%m%d").date())
    return sorted(days)


def drop_older_than(
    connection: psycopg.Connection[Any], retention: timedelta, now: datetime | None = None
) -> list[str]:
    """Drop every partition whose whole day is older than now - retention; the names dropped."""
    cutoff = (now or datetime.now(UTC)) - retention
    dropped = []
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    for day in existing_partitions(connection):
        if _bounds(day)[1] <= cutoff:
            name = partition_name(day)
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
            dropped.append(name)
    return dropped
