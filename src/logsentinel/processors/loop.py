"""The processor: consume a batch, decode it, store it with its offsets, commit, repeat.

Throughput: a single writer thread stores batch N (PostgreSQL does the COPY and index work on
the other core) while the main thread consumes and decodes batch N+1. Batches are written in
order, one at a time; Kafka is only touched from the main thread, the database only from the
writer thread (except for heartbeats and the offset lookup at assignment, on the main thread,
with their own short-lived work and connections).

Delivery: the database is the source of truth for offsets. On assignment each partition starts
at the offset stored with the data; Kafka commits are only a hint for tools. When the database is
unavailable the processor pauses its partitions, keeps polling (so it stays in the group and
rebalances still happen) and retries the same batch with exponential backoff; nothing is
skipped and nothing crashes.

Partitions and retention: the Housekeeping (processors/housekeeping.py) makes the day partitions
of the decoder's event-time window ahead of time and applies retention on a thread of its own, so
the write path finds its partitions.

Heartbeats: every heartbeat_interval the main thread has its HeartbeatReporter
(processors/heartbeats.py) write each assigned partition's lag, also while it waits for a slow
write or a retry.

Stopping: stop() lets the batch in flight finish within the shutdown grace, then abandons it
(its offsets were not committed, so it is read again) and leaves the group. Dead letters go to
their topic through processors/deadletters.py, which never lets one record stop a partition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
import structlog
from confluent_kafka import (
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from logsentinel.backoff import Backoff
from logsentinel.domain.logrecord import LogRecord, SourcePosition
from logsentinel.parsing import RecordDecoder
from logsentinel.processors import metrics
from logsentinel.processors.batch import assemble
from logsentinel.processors.deadletters import DeadLetterTopic, DeadLetterTopicError
from logsentinel.processors.heartbeats import HeartbeatReporter, PartitionProgress, Produced
from logsentinel.processors.housekeeping import Housekeeping
from logsentinel.processors.settings import DEFAULT_SHUTDOWN_GRACE, default_consumer_id
from logsentinel.storage.urls import libpq_url, redacted
from logsentinel.storage.writer import Batch, LogWriter, WriteResult

log = structlog.get_logger("logsentinel.processors")


class Stage(Protocol):
    """Work after storage (detection): told what was stored and which partitions it owns."""

    def start(self) -> None: ...

    def stored(self, records: Sequence[LogRecord]) -> None:
        """The records a committed transaction stored (never a replay)."""

    def assigned(self, topic: str, partitions: Sequence[int]) -> None: ...

    def revoked(self, topic: str, partitions: Sequence[int]) -> None: ...

    def tick(self, caught_up: Collection[tuple[str, int]]) -> None:
        """Called on every loop turn (at least every batch wait), with the partitions whose
        every record Kafka holds is stored."""

    def stop(self) -> None: ...


LAG_INTERVAL = timedelta(seconds=10)
CONSUME_SLICE = 0.01
"""Seconds per consume call while a write is in flight (see Processor._consume)."""
LEAVE_RESERVE_SECONDS = 5.0
"""Of the shutdown grace, kept after the batch in flight for leaving the group and closing (at
most half of it)."""
DEAD_LETTER_FLUSH_SECONDS = 10.0


class AbandonedBatchError(Exception):
    """Stopping, and the batch in flight did not finish within the shutdown grace."""


RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError, DeadLetterTopicError)


@dataclass
class InFlight:
    """A batch handed to the writer thread and not yet acknowledged to Kafka."""

    batch: Batch
    consumed: int
    future: Future[WriteResult]
    produced: Produced = field(default_factory=dict)


class Processor:
    """One member of the processors' consumer group."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        dead_letters: DeadLetterTopic,
        database_url: str,
        topic: str,
        group: str,
        decoder: RecordDecoder,
        batch_size: int = 5000,
        batch_wait: timedelta = timedelta(milliseconds=100),
        retention: timedelta | None = None,
        backoff: Backoff | None = None,
        stages: Sequence[Stage] = (),
        consumer_id: str | None = None,
        heartbeat_interval: timedelta = timedelta(seconds=2),
        shutdown_grace: timedelta = DEFAULT_SHUTDOWN_GRACE,
    ) -> None:
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.database_url = libpq_url(database_url)
        self.topic = topic
        self.decoder = decoder
        self.batch_size = batch_size
        self.batch_wait = batch_wait.total_seconds()
        self.retention = retention
        self.backoff = backoff or Backoff(timedelta(milliseconds=200), timedelta(seconds=30))
        self.stages = list(stages)
        self.writer = LogWriter(group)
        self.stopping = threading.Event()
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer")
        self.housekeeping = Housekeeping(self.database_url, decoder.event_time, retention)
        self._connection: psycopg.Connection[Any] | None = None  # the writer thread's
        self._in_flight: InFlight | None = None
        self._revoked: set[tuple[str, int]] = set()
        self._next_lag_check = 0.0
        self.consumer_id = consumer_id or default_consumer_id()
        self._progress: dict[int, PartitionProgress] = {}  # the assigned partitions of topic
        self.heartbeats = HeartbeatReporter(
            database_url=self.database_url,
            consumer=consumer,
            consumer_id=self.consumer_id,
            topic=topic,
            interval=heartbeat_interval.total_seconds(),
            progress=self._progress,
        )
        grace = shutdown_grace.total_seconds()
        self._drain_seconds = grace - min(LEAVE_RESERVE_SECONDS, grace / 2)
        self._abandon_at: float | None = None  # set by stop()

    # --- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until stop() is called; then finish the last write and leave the group."""
        for stage in self.stages:
            stage.start()
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("processor started", topic=self.topic, database=redacted(self.database_url))
        try:
            while not self.stopping.is_set():
                self.run_once()
            self._finish_in_flight()
        finally:
            for stage in self.stages:
                stage.stop()
            self.consumer.close()
            self.heartbeats.forget(None)
            self.heartbeats.close()
            self.dead_letters.flush(DEAD_LETTER_FLUSH_SECONDS)
            self._close_writer()
            self.housekeeping.shutdown()
            log.info("processor stopped")

    def stop(self) -> None:
        """Make run() return. The batch in flight may finish within the shutdown grace (less
        LEAVE_RESERVE_SECONDS); then it is abandoned, which is safe: its offsets were not
        committed, so the partition's next reader reads it again."""
        if self._abandon_at is None:
            self._abandon_at = time.monotonic() + self._drain_seconds
        self.stopping.set()

    def _seconds_to_abandon(self) -> float | None:
        """None while running; once stopping, the time left for the batch in flight."""
        if self._abandon_at is None:
            return None
        return max(self._abandon_at - time.monotonic(), 0.0)

    def _close_writer(self) -> None:
        """Close the writer thread's connection, waiting for it no longer than the batch in
        flight may take; a writer still stuck (in a statement that does not return) is left
        behind."""
        closing = self._writes.submit(self._drop_connection)
        done, _ = wait_for([closing], timeout=self._seconds_to_abandon())
        if not done:
            log.warning("writer still busy at shutdown; not waiting for it")
        self._writes.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> int:
        """Consume and decode one batch while the previous one is written; records consumed."""
        messages = self._consume()
        batch = assemble(messages, self.decoder) if messages else None
        self._finish_in_flight()
        if batch is not None and not self.stopping.is_set():
            future = self._writes.submit(self._write, batch)
            self._in_flight = InFlight(batch, len(messages), future, _produced(messages))
        self._maintenance()
        return len(messages)

    # --- consuming -----------------------------------------------------------------------------

    def _consume(self) -> list[Message]:
        """Up to batch_size messages within batch_wait.

        Waits in short slices so that a write finishing meanwhile is acknowledged at once:
        detection runs on acknowledged batches, and at low volume it would otherwise wait for
        the whole next batch_wait.
        """
        good: list[Message] = []
        deadline = time.monotonic() + self.batch_wait
        while len(good) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            timeout = min(left, CONSUME_SLICE) if self._in_flight is not None else left
            for message in self.consumer.consume(self.batch_size - len(good), timeout):
                error = message.error()
                if error is None:
                    good.append(message)
                    self._reached_end(message, None)
                elif error.code() == KafkaError._PARTITION_EOF:
                    self._reached_end(message, message.offset())
                else:
                    log.warning("kafka error", error=str(error))
            if self._in_flight is not None and self._in_flight.future.done():
                self._finish_in_flight()
        return good

    def _reached_end(self, message: Message, end: int | None) -> None:
        """Note where the partition ends (an end-of-partition event), or that it has records
        past the last end seen (end None)."""
        progress = self._progress.get(message.partition() or 0)
        if progress is not None and message.topic() == self.topic:
            progress.end = end

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start every assigned partition where the database says its data ends."""
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as connection:
                stored = self.writer.stored_offsets(connection, self.topic)
        except psycopg.OperationalError as error:
            # Kafka's committed offsets are at most behind the database; the writer skips replays.
            log.warning("database unavailable at assignment; using Kafka offsets", error=str(error))
            stored = {}
        for partition in partitions:
            if partition.partition in stored:
                partition.offset = stored[partition.partition]
            self._revoked.discard((partition.topic, partition.partition))
            self._progress[partition.partition] = PartitionProgress(stored.get(partition.partition))
        consumer.assign(partitions)
        self.heartbeats.report_soon()  # the new assignment
        log.info("partitions assigned", partitions=sorted(p.partition for p in partitions))
        for topic, numbers in _by_topic(partitions).items():
            for stage in self.stages:
                stage.assigned(topic, numbers)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Let the write in flight finish before the partitions go to another member."""
        self._revoked.update((p.topic, p.partition) for p in partitions)
        flight, self._in_flight = self._in_flight, None
        if flight is not None:
            wait_for([flight.future])
            if flight.future.exception() is None:
                result = flight.future.result()
                self._acknowledge(flight.batch, flight.consumed, result, flight.produced)
        log.info("partitions revoked", partitions=sorted(p.partition for p in partitions))
        for partition in partitions:
            self._progress.pop(partition.partition, None)
        self.heartbeats.forget([p.partition for p in partitions])
        for topic, numbers in _by_topic(partitions).items():
            for stage in self.stages:
                stage.revoked(topic, numbers)

    # --- storing -------------------------------------------------------------------------------

    def _write(self, batch: Batch) -> WriteResult:
        """Runs on the writer thread: dead letters to their topic, then one transaction."""
        try:
            with metrics.BATCH_SECONDS.labels("dead_letter_topic").time():
                letters = self.dead_letters.publish(batch.dead_letters)
            with metrics.BATCH_SECONDS.labels("store").time():
                result = self.writer.write(self._database(), replace(batch, dead_letters=letters))
        except RETRYABLE:
            self._drop_connection()
            raise
        self.dead_letters.settled()
        return result

    def _finish_in_flight(self) -> None:
        """Wait for the batch in flight; while it cannot be stored, pause and retry it."""
        flight, self._in_flight = self._in_flight, None
        if flight is None:
            return
        batch, paused = flight.batch, False
        try:
            while True:
                try:
                    result = self._result(flight)
                    break
                except AbandonedBatchError:
                    log.warning(
                        "gave up waiting for the batch in flight; abandoned, not committed: "
                        "the partitions' next reader reads it again",
                        records=flight.consumed,
                    )
                    return
                except RETRYABLE as error:
                    if not isinstance(error, DeadLetterTopicError):
                        metrics.DATABASE_UP.set(0)
                    if not paused:
                        self.consumer.pause(self.consumer.assignment())
                        metrics.PAUSED.set(1)
                        paused = True
                    delay = self.backoff.next()
                    log.warning("store failed; paused", error=str(error), retry_in_s=delay)
                    self._wait_polling(delay, flight.produced)
                    batch = self._without_revoked(batch)
                    if not batch.next_offsets or self.stopping.is_set():
                        return
                    flight.future = self._writes.submit(self._write, batch)
        finally:
            if paused:
                self.consumer.resume(self.consumer.assignment())
                metrics.PAUSED.set(0)
                log.info("consumption resumed")
        metrics.DATABASE_UP.set(1)
        self.backoff.reset()
        self._acknowledge(batch, flight.consumed, result, flight.produced)

    def _result(self, flight: InFlight) -> WriteResult:
        """The write's outcome; while a write takes long, heartbeats go on (with a growing lag).
        Raises AbandonedBatchError when stopping and the write is still not done at the deadline."""
        while not flight.future.done():
            timeout = self.heartbeats.seconds_to_next()
            left = self._seconds_to_abandon()
            if left is not None:
                if left <= 0:
                    raise AbandonedBatchError
                timeout = min(timeout, left)
            wait_for([flight.future], timeout=timeout)
            self.heartbeats.report_if_due(flight.produced)
        return flight.future.result()

    def _acknowledge(
        self, batch: Batch, consumed: int, result: WriteResult, produced: Produced
    ) -> None:
        """After the transaction committed: tell Kafka, note the progress, count, run the
        handlers."""
        self._commit_to_kafka(batch)
        for (_, partition), next_offset in batch.next_offsets.items():
            if partition in self._progress:
                self._progress[partition].stored(next_offset, produced.get(partition))
        metrics.RECORDS_CONSUMED.inc(consumed)
        metrics.BATCH_SIZE.observe(consumed)
        metrics.RECORDS_STORED.inc(result.stored)
        metrics.RECORDS_REPLAYED.inc(result.replayed)
        for letter in result.dead_letters:
            metrics.RECORDS_DEAD_LETTERED.labels(letter.reason).inc()
        if batch.records:
            newest = max(record.timestamp for record in batch.records)
            metrics.END_TO_END_LAG.set((datetime.now(UTC) - newest).total_seconds())
        for stage in self.stages:
            stage.stored(result.records)

    def _wait_polling(self, seconds: float, pending: Produced) -> None:
        """Wait while serving the group protocol and reporting heartbeats; newly assigned
        partitions stay paused."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            self.heartbeats.report_if_due(pending)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            message = self.consumer.poll(min(remaining, 1.0))
            if message is not None and message.error() is None:
                # Paused partitions deliver nothing; a message here means a new assignment
                # raced the pause. Rewind so it is read again after the outage.
                self.consumer.seek(_position_of(message))
            self.consumer.pause(self.consumer.assignment())

    def _without_revoked(self, batch: Batch) -> Batch:
        if not self._revoked:
            return batch

        def kept(source: SourcePosition | None) -> bool:
            return source is None or (source.topic, source.partition) not in self._revoked

        return replace(
            batch,
            records=[record for record in batch.records if kept(record.source)],
            dead_letters=[letter for letter in batch.dead_letters if kept(letter.source)],
            next_offsets={k: v for k, v in batch.next_offsets.items() if k not in self._revoked},
        )

    def _commit_to_kafka(self, batch: Batch) -> None:
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in batch.next_offsets.items()
            if (topic, partition) not in self._revoked
        ]
        if offsets:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            except Exception as error:  # the database holds the truth; Kafka's copy is a hint
                log.warning("kafka commit failed", error=str(error))

    # --- database and housekeeping -----------------------------------------------------------

    def _database(self) -> psycopg.Connection[Any]:
        """The writer thread's connection (opened on demand)."""
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.database_url, connect_timeout=5)
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _maintenance(self) -> None:
        caught_up = [
            (self.topic, partition)
            for partition, progress in self._progress.items()
            if progress.caught_up
        ]
        for stage in self.stages:
            stage.tick(caught_up)
        self.heartbeats.report_if_due(
            self._in_flight.produced if self._in_flight is not None else {}
        )
        now = time.monotonic()
        if now >= self._next_lag_check:
            self._next_lag_check = now + LAG_INTERVAL.total_seconds()
            self._update_consumer_lag()
        self.housekeeping.start_if_due()

    def _update_consumer_lag(self) -> None:
        try:
            assignment = self.consumer.assignment()
            for position in self.consumer.position(assignment):
                _, high = self.consumer.get_watermark_offsets(position, timeout=1)
                lag = max(high - position.offset, 0) if position.offset >= 0 else high
                metrics.CONSUMER_LAG.labels(position.topic, str(position.partition)).set(lag)
        except Exception as error:  # metrics must never stop processing
            log.debug("consumer lag unavailable", error=str(error))


def _produced(messages: Sequence[Message]) -> Produced:
    """Per partition, the Kafka timestamps of the first and last of these messages (they come
    in offset order). Runs for every message, hence the plain loop."""
    first: dict[int | None, int] = {}
    last: dict[int | None, int] = {}
    for message in messages:
        partition, millis = message.partition(), message.timestamp()[1]
        if partition not in first:
            first[partition] = millis
        last[partition] = millis
    return {
        partition: (millis / 1000, last[partition] / 1000)
        for partition, millis in first.items()
        if partition is not None and millis >= 0 and last[partition] >= 0
    }


def _by_topic(partitions: list[TopicPartition]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for partition in partitions:
        grouped.setdefault(partition.topic, []).append(partition.partition)
    return grouped


def _position_of(message: Message) -> TopicPartition:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("message without a position")
    return TopicPartition(topic, partition, offset)
