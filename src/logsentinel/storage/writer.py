"""Write a batch of records in one transaction: COPY the logs, store the dead letters and advance
the consumer offsets, so that data and offsets commit together (exactly-once in effect).

Replays are skipped by comparing each record's Kafka offset with the stored next offset, whose
row is locked FOR UPDATE: a stale consumer that still holds a revoked partition waits for the
new owner's transaction and then sees its offsets. Rows the database rejects (bad encoding, say)
are isolated by bisection under savepoints and dead-lettered; the batch still commits.

A batch may carry what the template miner learnt while decoding it: it is saved in the same
transaction (storage/templates.py), so a template is committed with the first records that use
it; last_seen is refreshed for the template ids of the stored records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import errors

from logsentinel.domain.logrecord import LogRecord, SourcePosition
from logsentinel.storage import templates as template_store
from logsentinel.storage.partitions import PartitionManager

LOG_COLUMNS = (
    "ts",
    "level",
    "service",
    "namespace",
    "pod",
    "container",
    "node",
    "stream",
    "message",
    "template_id",
    "trace_id",
    "attributes",
    "source_topic",
    "source_partition",
    "source_offset",
)
COPY_LOGS = f"COPY logs ({', '.join(LOG_COLUMNS)}) FROM STDIN"
REJECTED_BY_DATABASE = "rejected-by-database"
MAX_RECORDED_SERVICE_TEMPLATES = 100_000

PartitionKey = tuple[str, int]


@dataclass(frozen=True)
class DeadLetter:
    """A record that will not be stored as a log, and why. payload: the record's full value,
    stored whole (Kafka already bounded its size)."""

    reason: str
    detail: str
    payload: bytes
    source: SourcePosition | None = None


@dataclass
class Batch:
    """What one transaction writes. next_offsets: (topic, partition) -> first offset not in it."""

    records: list[LogRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[PartitionKey, int] = field(default_factory=dict)
    templates: template_store.LearntTemplates | None = None
    """What the template miner learnt decoding these records; None: templates are not saved."""


@dataclass(frozen=True)
class WriteResult:
    stored: int
    replayed: int
    dead_letters: list[DeadLetter]
    records: list[LogRecord] = field(default_factory=list)
    """The records this transaction stored: no replays, no rejects (what detection sees)."""


def _sanitised(text: str) -> str:
    # PostgreSQL text cannot hold NUL; keep the rest of the line.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _attributes_json(attributes: dict[str, Any]) -> str:
    try:
        encoded = orjson.dumps(attributes, default=str).decode()
    except orjson.JSONEncodeError:
        # what orjson refuses and the standard library writes: integers beyond 64 bits, lone
        # surrogates (escaped; the database then refuses the row, which is dead-lettered)
        encoded = json.dumps(attributes, separators=(",", ":"), default=str)
    if "\\u0000" in encoded:  # jsonb rejects the NUL escape too
        encoded = _sanitised(json.dumps(_strip_nul(attributes), separators=(",", ":"), default=str))
    return encoded


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _sanitised(value)
    if isinstance(value, dict):
        return {_sanitised(str(k)): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    return value


def log_row(record: LogRecord) -> tuple[Any, ...]:
    """The COPY row of a record, in LOG_COLUMNS order."""
    source = record.source
    return (
        record.timestamp,
        record.level.value,
        record.service,
        record.namespace,
        record.pod,
        record.container,
        record.node,
        record.stream.value if record.stream else None,
        _sanitised(record.message),
        record.template_id,
        record.trace_id,
        _attributes_json(record.attributes) if record.attributes else "{}",
        source.topic if source else None,
        source.partition if source else None,
        source.offset if source else None,
    )


class LogWriter:
    """Writes batches for one consumer group; keeps the partition cache between batches."""

    def __init__(self, consumer_group: str) -> None:
        self.consumer_group = consumer_group
        self.partitions = PartitionManager()
        self._recorded: set[tuple[str, str, str]] = set()
        """(namespace, service, template id) this writer knows are recorded: most batches then
        record nothing. Bounded: cleared when it reaches MAX_RECORDED_SERVICE_TEMPLATES."""
        self._recording: set[tuple[str, str, str]] = set()  # this batch's, until it commits

    def write(self, connection: psycopg.Connection[Any], batch: Batch) -> WriteResult:
        """Store batch atomically. Raises psycopg.OperationalError when the database is away,
        or when a day of the batch has no partition and one could not be made within the lock
        timeout (maintenance makes them ahead, so that is rare; retry the batch later).

        Call outside a transaction: a missing partition is made in a short one of its own first,
        so that its DDL lock is not held for the whole batch."""
        try:
            self.partitions.ensure(connection, {r.timestamp.date() for r in batch.records})
            self._recording = set()
            with connection.transaction():
                result = self._write(connection, batch)
            self._recorded.update(self._recording)  # committed: known to be recorded
            return result
        except BaseException:
            self.partitions.forget()
            raise

    def _write(self, connection: psycopg.Connection[Any], batch: Batch) -> WriteResult:
        stored_next = self._lock_offsets(connection, sorted(batch.next_offsets))
        fresh = [record for record in batch.records if _unseen(record.source, stored_next)]
        dead_letters = [d for d in batch.dead_letters if _unseen(d.source, stored_next)]
        rejected = self._copy_isolating(connection, [(r, log_row(r)) for r in fresh])
        dead_letters += rejected
        self._insert_dead_letters(connection, dead_letters)
        stored = fresh
        if rejected:
            refused = [letter.source for letter in rejected]
            stored = [record for record in fresh if record.source not in refused]
        if batch.templates is not None:
            used = {record.template_id for record in stored if record.template_id is not None}
            template_store.save(connection, batch.templates, used)
        recorded = self._service_templates(stored)
        template_store.save_service_templates(connection, recorded.values())
        self._advance_offsets(connection, batch.next_offsets)
        self._recording = set(recorded)
        return WriteResult(
            stored=len(stored),
            replayed=len(batch.records) - len(fresh),
            dead_letters=dead_letters,
            records=stored,
        )

    def _service_templates(
        self, stored: Sequence[LogRecord]
    ) -> dict[tuple[str, str, str], template_store.ServiceTemplate]:
        """The (namespace, service, template) of these records not known to be recorded yet,
        each with its earliest record."""
        if len(self._recorded) >= MAX_RECORDED_SERVICE_TEMPLATES:
            self._recorded.clear()
        new: dict[tuple[str, str, str], template_store.ServiceTemplate] = {}
        for record in stored:
            if record.template_id is None or record.source is None:
                continue
            key = (record.namespace, record.service, record.template_id)
            if key in self._recorded:
                continue
            known = new.get(key)
            if known is None or record.timestamp < known.first_seen:
                new[key] = template_store.ServiceTemplate(
                    *key, record.source.topic, record.source.partition, record.timestamp
                )
        return new

    def _lock_offsets(
        self, connection: psycopg.Connection[Any], keys: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]:
        """Lock the offset rows of keys (creating them at 0) and return their next offsets."""
        if not keys:
            return {}
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, 0) ON CONFLICT DO NOTHING",
                [(self.consumer_group, topic, partition) for topic, partition in keys],
            )
        rows = connection.execute(
            "SELECT topic, partition, next_offset FROM consumer_offsets "
            "WHERE consumer_group = %s AND (topic, partition) IN "
            "(SELECT * FROM unnest(%s::text[], %s::int[])) "
            "ORDER BY topic, partition FOR UPDATE",
            (self.consumer_group, [k[0] for k in keys], [k[1] for k in keys]),
        ).fetchall()
        return {(str(topic), int(partition)): int(offset) for topic, partition, offset in rows}

    def _copy_isolating(
        self, connection: psycopg.Connection[Any], rows: list[tuple[LogRecord, tuple[Any, ...]]]
    ) -> list[DeadLetter]:
        """COPY rows; on a data error, split until the rejected rows are found."""
        if not rows:
            return []
        try:
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(COPY_LOGS) as copy,
            ):
                for _, row in rows:
                    copy.write_row(row)
            return []
        except (errors.DataError, errors.IntegrityError, UnicodeError, ValueError) as error:
            if len(rows) == 1:
                return [_rejected(rows[0][0], error)]
            middle = len(rows) // 2
            return self._copy_isolating(connection, rows[:middle]) + self._copy_isolating(
                connection, rows[middle:]
            )

    @staticmethod
    def _insert_dead_letters(
        connection: psycopg.Connection[Any], dead_letters: list[DeadLetter]
    ) -> None:
        if not dead_letters:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO dead_letters (reason, detail, payload, payload_size, source_topic, "
                "source_partition, source_offset) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [
                    (
                        d.reason,
                        _sanitised(d.detail),
                        d.payload,
                        len(d.payload),
                        d.source.topic if d.source else None,
                        d.source.partition if d.source else None,
                        d.source.offset if d.source else None,
                    )
                    for d in dead_letters
                ],
            )

    def _advance_offsets(
        self, connection: psycopg.Connection[Any], next_offsets: dict[PartitionKey, int]
    ) -> None:
        if not next_offsets:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE consumer_offsets SET next_offset = GREATEST(next_offset, %s), "
                "updated_at = now() WHERE consumer_group = %s AND topic = %s AND partition = %s",
                [
                    (offset, self.consumer_group, topic, partition)
                    for (topic, partition), offset in next_offsets.items()
                ],
            )

    def stored_offsets(self, connection: psycopg.Connection[Any], topic: str) -> dict[int, int]:
        """partition -> next offset to read, as committed with the data."""
        rows = connection.execute(
            "SELECT partition, next_offset FROM consumer_offsets "
            "WHERE consumer_group = %s AND topic = %s",
            (self.consumer_group, topic),
        ).fetchall()
        return {int(partition): int(offset) for partition, offset in rows}


def _unseen(source: SourcePosition | None, stored_next: dict[PartitionKey, int]) -> bool:
    """Not yet stored: no Kafka position (direct ingest), or at/after the stored next offset."""
    if source is None:
        return True
    return source.offset >= stored_next.get((source.topic, source.partition), 0)


def _rejected(record: LogRecord, error: Exception) -> DeadLetter:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    # ensure_ascii escapes what UTF-8 cannot encode (lone surrogates), so the payload survives.
    payload = json.dumps(record.to_wire(), ensure_ascii=True).encode()
    return DeadLetter(
        REJECTED_BY_DATABASE, f"database refused the row: {detail}", payload, record.source
    )
