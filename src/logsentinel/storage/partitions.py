"""Daily partitions of the logs table: made ahead of time, dropped whole by retention (a DROP of
a partition is instant, unlike DELETE of its rows), and never under a lock that queues readers.

Locks on ``logs`` (PostgreSQL 14 or later), the reason for every statement here:

- ``CREATE TABLE ... PARTITION OF logs`` takes ACCESS EXCLUSIVE on ``logs``: it waits for every
  open reader and every query after it waits behind it. Not used. A partition is made with
  ``CREATE TABLE ... (LIKE logs)`` and ``ALTER TABLE logs ATTACH PARTITION``, which takes SHARE
  UPDATE EXCLUSIVE on ``logs`` (readers and writers go on; there is no default partition, whose
  ACCESS EXCLUSIVE lock ATTACH would also need).
- ``DROP TABLE`` of an attached partition takes ACCESS EXCLUSIVE on ``logs``. Retention first
  runs ``DETACH PARTITION ... CONCURRENTLY`` (SHARE UPDATE EXCLUSIVE, outside a transaction,
  then it waits for the transactions that still see the partition), then drops the detached
  table. A detach cut short stays pending (at most one may be) and is finished with
  ``DETACH PARTITION ... FINALIZE`` on the next run.

Every DDL statement runs under ``lock_timeout`` (:data:`LOCK_TIMEOUT`): when a lock is not had
in time the statement gives up (``psycopg.errors.LockNotAvailable``) instead of waiting, and the
work is retried later. Partitions for the whole event-time window are made by maintenance
(:func:`maintain`); the write path only makes one itself when a day is missing
(:meth:`PartitionManager.ensure`), in its own short transaction under the same timeout.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors, sql

PARENT = "logs"
LOCK_TIMEOUT = timedelta(seconds=2)
"""How long a partition DDL statement waits for its lock before it gives up."""
MAINTENANCE_STATEMENT_TIMEOUT = timedelta(seconds=60)
"""Backstop for one maintenance statement (a concurrent detach waits for old transactions)."""
_NAME = re.compile(r"^logs_(\d{8})$")
_LOCK_KEY = zlib.crc32(b"logsentinel.partitions")
_MAINTENANCE_KEY = zlib.crc32(b"logsentinel.partitions.maintenance")
GAVE_UP = (errors.LockNotAvailable, errors.QueryCanceled)
"""What a DDL statement raises when its lock_timeout or statement_timeout ran out."""


def partition_name(day: date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _milliseconds(duration: timedelta) -> str:
    return f"{max(int(duration.total_seconds() * 1000), 1)}ms"


class PartitionManager:
    """The write path's view: which days have a partition (remembered, so that a batch asks the
    database only for a day it has not seen), and a missing one made on demand."""

    def __init__(self, lock_timeout: timedelta = LOCK_TIMEOUT) -> None:
        self.lock_timeout = lock_timeout
        self._known: set[date] = set()

    def ensure(self, connection: psycopg.Connection[Any], days: Iterable[date]) -> None:
        """Make sure every day has a partition. Call outside a transaction: each partition is
        made in a short one of its own. Raises ``LockNotAvailable`` (an OperationalError) when
        a lock was not had within lock_timeout; the caller retries later."""
        missing = set(days) - self._known
        if not missing:
            return
        with connection.transaction():
            self._known.update(existing_partitions(connection))
        for day in sorted(missing - self._known):
            create_partition(connection, day, self.lock_timeout)
            self._known.add(day)

    def forget(self) -> None:
        """Drop the cache (after a failed transaction the partitions may not exist)."""
        self._known.clear()


def create_partition(
    connection: psycopg.Connection[Any], day: date, lock_timeout: timedelta = LOCK_TIMEOUT
) -> bool:
    """Make and attach day's partition unless it exists, in a transaction of its own; whether
    it had to be made."""
    name = partition_name(day)
    start, end = _bounds(day)
    with connection.transaction():
        connection.execute(
            "SELECT set_config('lock_timeout', %s, true)", (_milliseconds(lock_timeout),)
        )
        # Concurrent CREATE TABLE of one name can still collide in the catalog; serialise.
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        row = connection.execute(
            "SELECT relispartition FROM pg_class WHERE oid = to_regclass(%s)", (name,)
        ).fetchone()
        if row is not None and row[0]:
            return False
        if row is None:
            create = "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            connection.execute(sql.SQL(create).format(sql.Identifier(name), sql.Identifier(PARENT)))
        connection.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(PARENT),
                sql.Identifier(name),
                sql.Literal(start),
                sql.Literal(end),
            )
        )
    return True


def existing_partitions(connection: psycopg.Connection[Any]) -> list[date]:
    """The days that have a partition (not one being detached), oldest first."""
    return sorted(day for day, state in _daily_tables(connection) if state == ATTACHED)


ATTACHED, PENDING, DETACHED = "attached", "pending", "detached"


def _daily_tables(connection: psycopg.Connection[Any]) -> list[tuple[date, str]]:
    """Every logs_YYYYMMDD table beside logs: attached, pending (a concurrent detach was cut
    short) or detached (a drop after the detach did not happen)."""
    rows = connection.execute(
        "SELECT c.relname, i.inhdetachpending FROM pg_class c "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = %s::regclass "
        "WHERE c.relkind = 'r' AND c.relname ~ '^logs_[0-9]{8}$' AND c.relnamespace = "
        "(SELECT relnamespace FROM pg_class WHERE oid = %s::regclass)",
        (PARENT, PARENT),
    ).fetchall()
    found = []
    for name, pending in rows:
        match = _NAME.match(str(name))
        if match:
            state = DETACHED if pending is None else PENDING if pending else ATTACHED
            found.append((datetime.strptime(match[1], "%Y%m%d").date(), state))
    return found


@dataclass
class Maintenance:
    """What one maintenance run did; complete is False when a lock was not had in time (the
    rest is left for the next run)."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    complete: bool = True
    problem: str | None = None
    skipped: bool = False
    """Another maintenance run (another processor's) was under way; this one did nothing."""


def maintain(
    connection: psycopg.Connection[Any],
    window: Iterable[date],
    retention: timedelta | None,
    now: datetime,
) -> Maintenance:
    """Make the partitions of every day in window and, with a retention, drop those whose whole
    day is older than now - retention or that lie after the window's last day (no accepted
    record can be there). connection must be in autocommit mode (DETACH ... CONCURRENTLY
    cannot run in a transaction) and is used for nothing else meanwhile.

    Stops at the first statement that did not get its lock in time: the result says so and the
    caller runs it again later. One run at a time per database: while another is under way this
    one is skipped (it would only wait on the other's locks)."""
    if not connection.autocommit:
        raise ValueError("maintain() needs a connection in autocommit mode")
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (_MAINTENANCE_KEY,)).fetchone()
    if row is None or not row[0]:
        return Maintenance(skipped=True)
    try:
        return _maintain(connection, window, retention, now)
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (_MAINTENANCE_KEY,))


def _maintain(
    connection: psycopg.Connection[Any],
    window: Iterable[date],
    retention: timedelta | None,
    now: datetime,
) -> Maintenance:
    cutoff = now - retention if retention is not None else None
    days = sorted(day for day in set(window) if cutoff is None or _bounds(day)[1] > cutoff)
    done = Maintenance()
    for setting, value in (
        ("lock_timeout", LOCK_TIMEOUT),
        ("statement_timeout", MAINTENANCE_STATEMENT_TIMEOUT),
    ):
        connection.execute("SELECT set_config(%s, %s, false)", (setting, _milliseconds(value)))

    def expired(day: date) -> bool:
        if cutoff is None:
            return False
        return _bounds(day)[1] <= cutoff or (bool(days) and day > days[-1])

    try:
        for day, state in sorted(_daily_tables(connection)):
            if state == PENDING:  # only retention detaches; finish what it began
                _drop(connection, partition_name(day), "FINALIZE")
                done.dropped.append(partition_name(day))
            elif state == DETACHED and expired(day):
                _drop(connection, partition_name(day), None)
                done.dropped.append(partition_name(day))
        for day in days:
            if create_partition(connection, day):
                done.created.append(partition_name(day))
        for day in existing_partitions(connection):
            if expired(day):
                _drop(connection, partition_name(day), "CONCURRENTLY")
                done.dropped.append(partition_name(day))
    except GAVE_UP as error:
        done.complete = False
        done.problem = str(error).splitlines()[0]
    return done


def _drop(connection: psycopg.Connection[Any], name: str, detach: str | None) -> None:
    """Detach the partition (CONCURRENTLY, or FINALIZE a pending detach; None: it is detached
    already), then drop the table."""
    if detach is not None:
        connection.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {} {}").format(
                sql.Identifier(PARENT), sql.Identifier(name), sql.SQL(detach)
            )
        )
    connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
