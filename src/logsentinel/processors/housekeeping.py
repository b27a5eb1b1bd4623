"""The processor's housekeeping: the day partitions of the event-time window made ahead of time,
and retention (old partitions, those beyond the window's future edge, old rule buckets, templates
not seen within retention).

It runs on a thread of its own with a connection of its own, beside the writes, every
MAINTENANCE_INTERVAL; its DDL never queues readers or writers (storage/partitions.py), and what it
could not do (a lock not had in time, the database down) is retried after MAINTENANCE_RETRY.
Housekeeping never stops processing.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import structlog

from logsentinel.domain.logrecord import EventTimeWindow
from logsentinel.storage.buckets import delete_older_than as delete_buckets_before
from logsentinel.storage.partitions import maintain as maintain_partitions
from logsentinel.storage.templates import delete_unseen_since as delete_unseen_templates

log = structlog.get_logger("logsentinel.processors")

MAINTENANCE_INTERVAL = timedelta(hours=1)
"""How often the partitions of the event-time window are made and retention is applied."""
MAINTENANCE_RETRY = timedelta(minutes=1)
"""How soon maintenance runs again after a lock was not had in time or the database failed."""


class Housekeeping:
    """Schedules :meth:`run` on its own thread; the consume loop calls :meth:`start_if_due`."""

    def __init__(
        self, database_url: str, window: EventTimeWindow, retention: timedelta | None
    ) -> None:
        self.database_url = database_url
        self.window = window
        self.retention = retention
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maintenance")
        self._running: Future[None] | None = None
        self._next = 0.0

    def start_if_due(self) -> None:
        """Start a run when one is due and none is under way."""
        now = time.monotonic()
        busy = self._running is not None and not self._running.done()
        if now >= self._next and not busy:
            self._next = now + MAINTENANCE_INTERVAL.total_seconds()
            self._running = self._thread.submit(self.run)

    def shutdown(self) -> None:
        """Stop without waiting for a run under way (its DDL is safe to interrupt)."""
        self._thread.shutdown(wait=False, cancel_futures=True)

    def run(self) -> None:
        """One pass: partitions first (made before records need them), then retention."""
        now = datetime.now(UTC)
        retry_in = MAINTENANCE_RETRY.total_seconds()
        try:
            with psycopg.connect(
                self.database_url, connect_timeout=5, autocommit=True
            ) as connection:
                done = maintain_partitions(connection, self.window.days(now), self.retention, now)
                buckets = templates = 0
                if self.retention is not None:
                    buckets = delete_buckets_before(connection, now - self.retention)
                    templates = delete_unseen_templates(connection, now - self.retention)
        except Exception as error:  # maintenance must never stop processing
            log.warning("maintenance failed", error=str(error), retry_in_s=retry_in)
            self._next = time.monotonic() + retry_in
            return
        if done.created or done.dropped or buckets or templates:
            log.info(
                "partitions maintained",
                created=done.created,
                dropped=done.dropped,
                rule_buckets=buckets,
                templates=templates,
            )
        if not done.complete:
            log.warning("maintenance deferred", error=done.problem, retry_in_s=retry_in)
            self._next = time.monotonic() + retry_in
