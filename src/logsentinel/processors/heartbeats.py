"""The processor's heartbeats: each assigned partition's lag, written to pipeline_heartbeats.

Every interval the consume loop's thread calls :meth:`HeartbeatReporter.report_if_due`, also
while it waits for a slow write or a retry, so a stuck processor shows a growing lag and a dead
one a stale heartbeat (storage/health.py judges them). The reporter has a connection of its
own with short timeouts, because the loop waits for it. A heartbeat that cannot be written is
logged (the first of a series as a warning); consumption goes on. See
:meth:`PartitionProgress.lag` for what the lag means.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition

from logsentinel.storage.health import PartitionLag, forget_heartbeats, write_heartbeats

log = structlog.get_logger("logsentinel.processors")

HEARTBEAT_TIMEOUT_SECONDS = 2
"""Bounds each heartbeat's connect and statement time: the consume loop waits for them."""
WATERMARK_TIMEOUT_SECONDS = 1.0

Produced = dict[int, tuple[float, float]]
"""partition -> Kafka timestamps (epoch seconds) of the first and last of its messages."""


@dataclass
class PartitionProgress:
    """What the loop knows of one assigned partition, for its heartbeat."""

    next_offset: int | None = None
    """The first offset not stored yet; None until known (then the low watermark stands in)."""
    stored_produced_at: float | None = None
    """Kafka timestamp (epoch seconds) of the newest record stored."""
    behind_since: float | None = None
    """When a heartbeat first found records waiting that the loop did not hold yet."""
    end: int | None = None
    """The partition's end offset when the consumer last reached it; None once a record past
    it was consumed (until the consumer reaches the end again)."""

    @property
    def caught_up(self) -> bool:
        """Whether every record the partition held when the consumer reached its end is stored."""
        return self.end is not None and (self.next_offset or 0) >= self.end

    def lag(
        self, low: int, high: int, pending_produced_at: float | None, now: float
    ) -> PartitionLag:
        """records: high watermark minus the first offset not stored (stored, not consumed:
        what the database is missing). seconds: 0 when nothing is missing; else the age, by
        the Kafka timestamps of the records (producer clocks, so skew shows), of the oldest
        record not stored yet:

        - exact when the loop holds it (pending_produced_at: the Kafka timestamp of the
          partition's first record in the batch being written or retried), which is the case
          while a write is slow or failing and while a backlog is worked off;
        - otherwise (its records are still in Kafka or the client's queue) a lower bound: the
          time since the newest stored record was produced or since a heartbeat first saw the
          partition behind, whichever is shorter. The shorter keeps a quiet partition whose
          last record is an hour old from looking an hour behind when a new record arrives.

        Both grow while the processor is stuck and stay near 0 while it keeps up.
        """
        next_offset = max(self.next_offset if self.next_offset is not None else low, low)
        records = max(high - next_offset, 0)
        if records == 0:
            self.behind_since = None
            return PartitionLag(0, 0.0)
        if pending_produced_at is not None:
            return PartitionLag(records, max(now - pending_produced_at, 0.0))
        if self.behind_since is None:
            self.behind_since = now
        waiting_since = max(self.behind_since, self.stored_produced_at or self.behind_since)
        return PartitionLag(records, max(now - waiting_since, 0.0))

    def stored(self, next_offset: int, produced: tuple[float, float] | None) -> None:
        """A transaction stored this partition's records up to next_offset."""
        self.next_offset = max(self.next_offset or 0, next_offset)
        if produced is not None:
            self.stored_produced_at = max(self.stored_produced_at or 0.0, produced[1])


class HeartbeatReporter:
    """Writes the lag of every partition in ``progress`` (the loop's own map of its assigned
    partitions, shared) for ``consumer_id`` every ``interval`` seconds."""

    def __init__(
        self,
        *,
        database_url: str,
        consumer: Consumer,
        consumer_id: str,
        topic: str,
        interval: float,
        progress: dict[int, PartitionProgress],
    ) -> None:
        self.database_url = database_url
        self.consumer = consumer
        self.consumer_id = consumer_id
        self.topic = topic
        self.interval = interval
        self.progress = progress
        self._connection: psycopg.Connection[Any] | None = None
        self._failing = False
        self._next = 0.0

    def seconds_to_next(self) -> float:
        """How long until the next heartbeat is due (0 when it is)."""
        return max(self._next - time.monotonic(), 0.0)

    def report_soon(self) -> None:
        """Make the next call report (a new assignment is worth telling at once)."""
        self._next = 0.0

    def report_if_due(self, pending: Produced) -> None:
        """Every interval: write every assigned partition's lag. pending: the batch being
        written or retried, whose records the database does not have yet."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        lags = self._lags(pending)
        if lags is None:
            return
        try:
            write_heartbeats(self._database(), self.consumer_id, self.topic, lags)
        except psycopg.Error as error:
            self.close()
            self._problem("heartbeat not written", error)
            return
        if self._failing:
            self._failing = False
            log.info("heartbeats written again")

    def forget(self, partitions: Sequence[int] | None) -> None:
        """Delete this consumer's rows of partitions (all of them when None) it gave up."""
        try:
            forget_heartbeats(self._database(), self.consumer_id, self.topic, partitions)
        except psycopg.Error as error:
            # They go stale, and the new owner's heartbeats replace them.
            self.close()
            self._problem("heartbeats not deleted", error)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _lags(self, pending: Produced) -> dict[int, PartitionLag] | None:
        """The lag of every assigned partition; None when Kafka cannot tell the watermarks (no
        heartbeat then: the rows go stale, which is the truth)."""
        lags: dict[int, PartitionLag] = {}
        now = time.time()
        for partition, progress in self.progress.items():
            position = TopicPartition(self.topic, partition)
            try:
                low, high = self.consumer.get_watermark_offsets(
                    position, timeout=WATERMARK_TIMEOUT_SECONDS
                )
            except KafkaException as error:
                self._problem("no heartbeat: watermarks unavailable", error)
                return None
            oldest = pending[partition][0] if partition in pending else None
            lags[partition] = progress.lag(low, high, oldest, now)
        return lags

    def _database(self) -> psycopg.Connection[Any]:
        """The connection for heartbeats, with short timeouts (opened on demand)."""
        if self._connection is None or self._connection.closed:
            connection = psycopg.connect(
                self.database_url, connect_timeout=HEARTBEAT_TIMEOUT_SECONDS, autocommit=True
            )
            try:
                connection.execute(f"SET statement_timeout = '{HEARTBEAT_TIMEOUT_SECONDS}s'")
            except psycopg.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _problem(self, what: str, error: Exception) -> None:
        """Log the first failure of a series as a warning, the rest at debug level."""
        if self._failing:
            log.debug(what, error=str(error))
        else:
            self._failing = True
            log.warning(what, error=str(error))
