"""Turn consumed Kafka messages into one storage Batch: decoded records and dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from logsentinel.domain.logrecord import SourcePosition
from logsentinel.parsing import DeadLetterError, RecordDecoder
from logsentinel.storage.writer import Batch, DeadLetter

DECODER_FAILURE = "decoder-failure"
log = structlog.get_logger("logsentinel.processors")


def _headers(message: Message) -> dict[str, bytes]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {key: value.encode() if isinstance(value, str) else value or b"" for key, value in pairs}


def _arrival(message: Message) -> datetime | None:
    """The message's Kafka timestamp: when it arrived (the decoder doubts it when absurd)."""
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or millis <= 0:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def assemble(messages: Sequence[Message], decoder: RecordDecoder) -> Batch:
    """Decode every message; each one ends up a record or a dead letter, never lost."""
    batch = Batch()
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            continue
        key = (topic, partition)
        batch.next_offsets[key] = max(batch.next_offsets.get(key, 0), offset + 1)
        source = SourcePosition.model_construct(topic=topic, partition=partition, offset=offset)
        value = message.value()
        payload = value if isinstance(value, bytes) else b""
        try:
            batch.records.append(
                decoder.decode(payload, _headers(message), source, _arrival(message))
            )
        except DeadLetterError as error:
            batch.dead_letters.append(DeadLetter(error.reason.value, error.detail, payload, source))
        except Exception as error:  # a decoder bug must not turn one record into a crash loop
            log.exception("decoder failed", topic=topic, partition=partition, offset=offset)
            detail = f"{type(error).__name__}: {error}"
            batch.dead_letters.append(DeadLetter(DECODER_FAILURE, detail, payload, source))
    return batch
