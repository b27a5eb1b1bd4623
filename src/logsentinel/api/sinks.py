"""Where ingested records go, and the promise behind a 202: the sink says "stored" only once
the records are durable, and a request is stored whole or not at all.

KafkaSink groups the records of concurrent requests into one Kafka transaction (group commit):
a committer thread takes every request waiting, produces their records inside a transaction
and commits it; each request's answer is the transaction's outcome. Consumers read with
isolation.level=read_committed, so the records of an aborted transaction (Kafka stopped, a
delivery timed out) are never seen, and a client retrying after a 503 cannot duplicate the half
of a request that happened to arrive. DatabaseSink (no Kafka configured) stores a request in
one PostgreSQL transaction.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import psycopg
import structlog
from confluent_kafka import KafkaError, KafkaException, Producer
from fastapi.concurrency import run_in_threadpool

from logsentinel.api import metrics
from logsentinel.api.ingest import Valid
from logsentinel.domain.logrecord import FORMAT_HEADER, LOGRECORD_FORMAT, LogRecord
from logsentinel.parsing.decoder import RecordDecoder
from logsentinel.storage.writer import Batch, LogWriter

log = structlog.get_logger("logsentinel.api.ingest")

HEADERS: list[tuple[str, str | bytes | None]] = [(FORMAT_HEADER, LOGRECORD_FORMAT)]


class SinkUnavailableError(Exception):
    """The records could not be made durable; none of them was stored."""


class SinkOutcomeUnknownError(Exception):
    """Kafka stopped answering while it committed: the request's records were stored all
    together or not at all, and nobody can tell which yet."""


class Sink(Protocol):
    async def store(self, records: Sequence[Valid]) -> None:
        """Returns once every record is durable; raises SinkUnavailableError otherwise."""

    def reachable(self, timeout: float = 2.0) -> str | None:
        """None when the sink answers, else what is wrong."""

    def close(self) -> None: ...


@dataclass
class _Request:
    """One HTTP request's records, and how to tell it the outcome."""

    messages: Sequence[Valid]
    loop: asyncio.AbstractEventLoop
    outcome: asyncio.Future[None] = field(init=False)
    _taken: bool | None = None  # True: a committer took it; False: the request gave up first
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.outcome = self.loop.create_future()

    def take(self) -> bool:
        """A committer takes the request unless it gave up waiting."""
        with self._lock:
            if self._taken is None:
                self._taken = True
            return self._taken

    def give_up(self) -> bool:
        """True when no committer took it (so none ever will)."""
        with self._lock:
            if self._taken is None:
                self._taken = False
            return not self._taken

    def settle(self, error: Exception | None) -> None:
        """Called on the request's event loop (see _settle_group)."""
        if self.outcome.done():  # the client went away and the request was cancelled
            return
        if error is None:
            self.outcome.set_result(None)
        else:
            self.outcome.set_exception(error)


def _settle_group(group: list[_Request], error: Exception | None) -> None:
    """Tell every request of a transaction its outcome: one wake-up per event loop, not one per
    request (each costs the loop a system call and a turn)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
    for request in group:
        by_loop.setdefault(request.loop, []).append(request)
    for loop, requests in by_loop.items():
        loop.call_soon_threadsafe(_settle_all, requests, error)


def _settle_all(requests: list[_Request], error: Exception | None) -> None:
    for request in requests:
        request.settle(error)


def transactional_id() -> str:
    """Stable for a pod (its hostname), so a restarted API fences its predecessor's open
    transaction at once instead of leaving consumers waiting for it to time out."""
    worker = os.environ.get("LOGSENTINEL_API_WORKER", str(os.getpid()))
    return f"logsentinel-api-{socket.gethostname()}-{worker}"


class KafkaSink:
    """Group-committed Kafka transactions (acks=all, idempotent): all or nothing per request.

    `producers` committers share one queue of waiting requests; while one commits, the next
    gathers what arrived meanwhile, so a commit's round trips do not cap the throughput.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        security: dict[str, str] | None = None,
        timeout: float = 10.0,
        producers: int = 3,
        transaction_id: str | None = None,
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        # the longest a transaction can take: init, commit retried for 2 timeouts, abort
        self._answer_within = timeout * 5
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            # the coordinator aborts a transaction a crashed API left open after this long
            "transaction.timeout.ms": int(max(timeout * 3, 10) * 1000),
            "message.timeout.ms": int(timeout * 1000),
            "linger.ms": 1,
            "compression.type": "lz4",
            **(security or {}),
        }
        self._probe: Producer | None = None  # readiness checks, outside any transaction
        self._waiting: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        base_id = transaction_id or transactional_id()
        self._committers = [
            _Committer(
                self._config | {"transactional.id": f"{base_id}-{index}"},
                topic,
                timeout,
                self._waiting,
            )
            for index in range(producers)
        ]

    async def store(self, records: Sequence[Valid]) -> None:
        if not records:
            return
        request = _Request(records, asyncio.get_running_loop())
        self._waiting.put(request)
        try:
            async with asyncio.timeout(self._answer_within):
                await request.outcome
        except TimeoutError:
            if request.give_up():
                raise SinkUnavailableError(
                    f"no Kafka producer was free within {self._answer_within:g} s "
                    "(Kafka is slow or down); nothing was stored"
                ) from None
            raise SinkOutcomeUnknownError(
                f"the Kafka transaction did not end within {self._answer_within:g} s; the "
                "records were stored all together or not at all"
            ) from None

    def reachable(self, timeout: float = 2.0) -> str | None:
        if self._probe is None:
            self._probe = Producer(self._config)
        probe = self._probe
        try:
            _kafka(lambda: probe.list_topics(self.topic, timeout=timeout))
        except _KafkaFailure as failure:
            return f"Kafka unreachable: {failure}"
        return None

    def close(self) -> None:
        self._waiting.put(None)  # each committer puts it back for the next one
        for committer in self._committers:
            committer.join(self._answer_within)
        self._probe = None  # librdkafka clients are destroyed with their last reference


class _Committer:
    """One transactional producer and the thread that commits groups of requests with it."""

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        timeout: float,
        waiting: queue.SimpleQueue[_Request | None],
    ) -> None:
        self._config = config
        self._topic = topic
        self._timeout = timeout
        self._waiting = waiting
        self._producer: Producer | None = None
        self._must_abort = False
        self._thread = threading.Thread(
            target=self._loop, name=f"ingest-commit-{config['transactional.id']}", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._producer is not None and self._must_abort:
            try:  # else consumers wait for the coordinator to time the transaction out
                _kafka(lambda: self._live.abort_transaction(self._timeout))
            except _KafkaFailure as failure:
                log.warning("could not abort on close", error=str(failure))
        self._producer = None

    def _loop(self) -> None:
        while True:
            group = self._gather()
            if not group:
                return
            started = time.monotonic()
            error = self._commit(group)
            metrics.INGEST_TRANSACTION_SECONDS.observe(time.monotonic() - started)
            metrics.INGEST_TRANSACTION_REQUESTS.observe(len(group))
            metrics.INGEST_TRANSACTIONS.labels("committed" if error is None else "aborted").inc()
            _settle_group(group, error)

    def _gather(self) -> list[_Request]:
        """The next waiting request and every one that arrived while the last commit ran;
        empty when the sink closes."""
        group: list[_Request] = []
        while not group:
            first = self._waiting.get()
            if first is None:
                self._waiting.put(None)
                return []
            if first.take():
                group.append(first)
        while True:
            try:
                more = self._waiting.get_nowait()
            except queue.Empty:
                return group
            if more is None:
                self._waiting.put(None)
                return group
            if more.take():
                group.append(more)

    # No method keeps the producer in a local variable: frames of failed calls can outlive
    # the call (the exceptions that carry them are not always freed at once), and a frame
    # holding a dropped producer would keep its threads and connections alive. Methods reach
    # it through self._live, so dropping it is setting self._producer to None.

    @property
    def _live(self) -> Producer:
        if self._producer is None:
            raise _KafkaFailure(KafkaError(KafkaError._STATE, "the producer was dropped"))
        return self._producer

    def _commit(self, group: list[_Request]) -> Exception | None:
        """One transaction holding every record of the group; None when it committed."""
        try:
            self._ready_producer()
        except _KafkaFailure as failure:  # no transaction was begun: nothing to abort
            return self._unavailable(failure.error)
        try:
            _kafka(lambda: self._live.begin_transaction())
            _kafka(lambda: self._produce(group))
            self._finish()
        except _KafkaFailure as failure:
            return self._abort(failure.error, failure.error.str())
        except _QueueFullError:
            return self._abort(None, "the Kafka producer queue is full")
        except _CommitUnconfirmedError as unconfirmed:
            # only a new producer with the same transactional.id learns how it ended (its
            # init fences this one and the coordinator completes or aborts the transaction)
            self._drop_producer()
            log.error("ingest transaction outcome unknown", error=str(unconfirmed))
            return SinkOutcomeUnknownError(
                f"Kafka did not confirm the commit within {2 * self._timeout:g} s "
                f"({unconfirmed}); the records were stored all together or not at all"
            )
        return None

    def _ready_producer(self) -> None:
        if self._producer is None:
            self._producer = Producer(self._config)
            try:
                _kafka(lambda: self._live.init_transactions(self._timeout))
            except _KafkaFailure:
                self._drop_producer()
                raise
        if self._must_abort:
            _kafka(lambda: self._live.abort_transaction(self._timeout))
            self._must_abort = False

    def _produce(self, group: list[_Request]) -> None:
        """Every record of the group, into the open transaction."""
        for request in group:
            for key, value in request.messages:
                try:
                    self._live.produce(self._topic, value, key, headers=HEADERS)
                except BufferError:
                    self._live.poll(0.05)  # serve delivery reports to free queue space
                    try:
                        self._live.produce(self._topic, value, key, headers=HEADERS)
                    except BufferError:
                        raise _QueueFullError from None

    def _finish(self) -> None:
        """Commit. A commit that timed out goes on in the background and may still land, so it
        is retried until Kafka says how it ended; an answer must never say "not stored" for
        records that were."""
        deadline = time.monotonic() + self._timeout * 2
        while True:
            try:
                _kafka(lambda: self._live.commit_transaction(self._timeout))
                return
            except _KafkaFailure as failure:
                error = failure.error
                if not error.retriable() or error.txn_requires_abort():
                    raise  # the transaction did not commit
                if time.monotonic() > deadline:
                    raise _CommitUnconfirmedError(error.str()) from None
                log.warning("transaction commit retried", error=error.str())

    def _unavailable(self, error: KafkaError) -> SinkUnavailableError:
        if error.fatal():
            self._drop_producer()
        log.warning("Kafka unavailable for ingest", error=error.str())
        return SinkUnavailableError(f"Kafka is unavailable: {error.str()}")

    def _abort(self, error: KafkaError | None, reason: str) -> SinkUnavailableError:
        """Abort the failed transaction now: while it stays open, read_committed consumers
        cannot read past it on its partitions."""
        if error is not None and error.fatal():
            self._drop_producer()  # a new producer's init_transactions aborts it
        elif self._producer is not None:
            self._must_abort = True
            try:
                _kafka(lambda: self._live.abort_transaction(self._timeout))
                self._must_abort = False
            except _KafkaFailure as failure:  # retried before the next transaction
                if failure.error.fatal():
                    self._drop_producer()
        log.warning("ingest transaction aborted; nothing of it was stored", error=reason)
        return SinkUnavailableError(f"Kafka did not take the records: {reason}")

    def _drop_producer(self) -> None:
        self._producer = None
        self._must_abort = False


class _KafkaFailure(Exception):  # noqa: N818 (a failure of the client, carried as such)
    """A KafkaException's error, raised without the KafkaException itself."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.error = error


T = TypeVar("T")


def _kafka(call: Callable[[], T]) -> T:
    """Run a client call; a KafkaException leaves as a _KafkaFailure.

    confluent-kafka keeps the KafkaExceptions it raised alive; with their tracebacks they would
    keep the frames of this module, and through them a dropped producer and its threads, alive
    for good (seen after Kafka outages). So the exception's traceback is cleared and only its
    error travels on.
    """
    try:
        return call()
    except KafkaException as exception:
        error: KafkaError = exception.args[0]
        exception.__traceback__ = None
    raise _KafkaFailure(error)


class _CommitUnconfirmedError(Exception):
    """commit_transaction kept timing out: the commit may or may not have happened."""


class _QueueFullError(Exception):
    """librdkafka's local queue stayed full: Kafka is not taking records fast enough."""


class DatabaseSink:
    """Without Kafka (local mode): the records are normalised as a processor would (cleaned
    text, inferred level, template id) and stored once the transaction commits."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._writer = LogWriter("api-ingest")
        self._decoder = RecordDecoder()
        self._lock = threading.Lock()  # the writer's and the decoder's caches are not shared

    async def store(self, records: Sequence[Valid]) -> None:
        if records:
            await run_in_threadpool(self._store, records)

    def _store(self, records: Sequence[Valid]) -> None:
        # built here, in a worker thread: ingest validated them without building them
        built = [LogRecord.model_validate_json(payload) for _, payload in records]
        try:
            with self._lock, self._pool.connection() as connection:
                normalised = [self._decoder.normalise(record) for record in built]
                self._writer.write(connection, Batch(records=normalised))
        except psycopg.OperationalError as error:
            raise SinkUnavailableError(f"the database is unavailable: {error}") from None

    def reachable(self, timeout: float = 2.0) -> str | None:
        return None  # the database is checked by /readyz itself

    def close(self) -> None:
        pass
