"""Ingest: turn a request body into validated LogRecords, then hand them to a sink that says
"stored" only when they are durable (Kafka acknowledged them, or the database committed them).

Bodies are a JSON array or NDJSON, optionally gzip-compressed. Each item is validated against
the domain's LogRecord; an invalid item is reported by its line (NDJSON) or position (array)
with the reason, and does not stop the valid ones.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from confluent_kafka import KafkaError, Message, Producer
from pydantic import ValidationError

from logsentinel.domain.errors import describe
from logsentinel.domain.logrecord import LogRecord
from logsentinel.parsing.decoder import FORMAT_HEADER, LOGRECORD_FORMAT
from logsentinel.storage.writer import Batch, LogWriter


class BodyTooLargeError(Exception):
    """The body (or what it decompresses to) is over the limit."""


class BadBodyError(Exception):
    """The body cannot be read at all (not gzip, not JSON); the message says where."""


class SinkUnavailableError(Exception):
    """The records could not be made durable; nothing was acknowledged."""


@dataclass(frozen=True)
class Rejected:
    line: int
    error: str


@dataclass(frozen=True)
class Parsed:
    records: list[LogRecord]
    rejected: list[Rejected]


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body, gunzipped when Content-Encoding says so, never more than limit bytes."""
    if not encoding or encoding.lower() == "identity":
        return body
    if encoding.lower() not in ("gzip", "x-gzip"):
        raise BadBodyError(f"Content-Encoding {encoding!r} is not supported (use gzip)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise BadBodyError(f"not valid gzip: {error}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise BodyTooLargeError(f"the body decompresses to more than {limit} bytes")
    return data


def parse(body: bytes) -> Parsed:
    """A JSON array (positions count from 1) or NDJSON (line numbers)."""
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as error:
            raise BadBodyError(f"not valid JSON: {error}") from None
        numbered = list(enumerate(items, start=1))
        return _validate(numbered, [])
    numbered_items: list[tuple[int, Any]] = []
    rejected: list[Rejected] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            numbered_items.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as error:
            rejected.append(Rejected(number, f"not valid JSON: {error}"))
    return _validate(numbered_items, rejected)


def _validate(items: list[tuple[int, Any]], rejected: list[Rejected]) -> Parsed:
    records = []
    for number, item in items:
        if not isinstance(item, dict):
            rejected.append(Rejected(number, "a record must be a JSON object"))
            continue
        try:
            records.append(LogRecord.model_validate(item))
        except ValidationError as error:
            problems = "; ".join(str(p) for p in describe(error)[:5])
            rejected.append(Rejected(number, problems))
    rejected.sort(key=lambda r: r.line)
    return Parsed(records, rejected)


def value_of(record: LogRecord) -> bytes:
    return orjson.dumps(record.to_wire())


class KafkaSink:
    """Produces records and waits until Kafka acknowledged every one (acks=all, idempotent)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        security: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 2,
                "compression.type": "lz4",
                "message.timeout.ms": int(timeout * 1000),
                **(security or {}),
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="ingest-acks", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def store(self, records: Sequence[LogRecord]) -> None:
        """Returns once Kafka has every record; raises SinkUnavailableError otherwise."""
        if not records:
            return
        pending = _Pending(len(records))
        headers: dict[str, str | bytes | None] = {FORMAT_HEADER: LOGRECORD_FORMAT}
        try:
            for record in records:
                self._producer.produce(
                    self.topic,
                    key=record.partition_key.encode(),
                    value=value_of(record),
                    headers=headers,
                    on_delivery=pending.delivered,
                )
        except BufferError:
            raise SinkUnavailableError("the Kafka producer queue is full") from None
        if not pending.done.wait(self.timeout + 1):
            raise SinkUnavailableError(f"Kafka did not acknowledge within {self.timeout:g} s")
        if pending.failure is not None:
            raise SinkUnavailableError(f"Kafka refused records: {pending.failure}")

    def reachable(self, timeout: float = 2.0) -> bool:
        try:
            self._producer.list_topics(self.topic, timeout=timeout)
        except Exception:
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=5)
        self._producer.flush(5)


class DatabaseSink:
    """Without Kafka (local mode): the records are stored once the transaction commits."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._writer = LogWriter("api-ingest")
        self._lock = threading.Lock()  # the writer's partition cache is not thread-safe

    def store(self, records: Sequence[LogRecord]) -> None:
        if not records:
            return
        try:
            with self._lock, self._pool.connection() as connection:
                self._writer.write(connection, Batch(records=list(records)))
        except psycopg.OperationalError as error:
            raise SinkUnavailableError(f"the database is unavailable: {error}") from None

    def reachable(self, timeout: float = 2.0) -> bool:
        return True  # the database is checked by /readyz itself

    def close(self) -> None:
        pass


class _Pending:
    """Counts one request's delivery reports."""

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.failure: str | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def delivered(self, error: KafkaError | None, _message: Message) -> None:
        with self._lock:
            if error is not None and self.failure is None:
                self.failure = error.str()
            self.remaining -= 1
            if self.remaining == 0:
                self.done.set()
