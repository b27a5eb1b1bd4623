"""Turn consumed Kafka messages into one storage Batch: decoded records and dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from logsentinel.domain.logrecord import EventTimeBounds
from logsentinel.parsing import DeadLetterReason, RecordDecoder
from logsentinel.parsing.records import trusted_source
from logsentinel.storage.writer import Batch, DeadLetter

log = structlog.get_logger("logsentinel.processors")


def _headers(message: Message) -> dict[str, bytes] | None:
    raw = message.headers()
    if not raw:
        return None  # Fluent Bit's records carry none
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {key: value.encode() if isinstance(value, str) else value or b"" for key, value in pairs}


class _Arrivals:
    """Messages' Kafka timestamps as datetimes: when each arrived, unless the event-time window
    doubts it (absent or absurd); then the batch's now. Producers batch messages, so runs of
    them share a millisecond: the last conversion is reused."""

    def __init__(self, bounds: EventTimeBounds) -> None:
        self.bounds = bounds
        self._millis = -1
        self._arrival = bounds.now

    def of(self, message: Message) -> datetime:
        kind, millis = message.timestamp()
        if kind == TIMESTAMP_NOT_AVAILABLE or millis <= 0:
            return self.bounds.now
        if millis != self._millis:
            self._millis, self._arrival = millis, self.bounds.arrival_at_millis(millis)
        return self._arrival


def assemble(messages: Sequence[Message], decoder: RecordDecoder) -> Batch:
    """Decode every message; each one ends up as records, a dead letter or both, never lost.

    The clock is read once for the batch: every record's time is judged against the same now.
    What the decoder's template miner learnt meanwhile goes with the batch, to be saved in its
    transaction.

    A Kafka position that comes twice is decoded once. That happens when a rebalance gives a
    partition back while messages read from it are still being gathered: it starts again at
    its stored offset, and delivers them a second time. The writer skips positions stored
    before the batch, not those repeated within it.
    """
    batch = Batch()
    bounds = decoder.time_bounds()
    arrivals = _Arrivals(bounds)
    positions: set[tuple[str, int, int]] = set()
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            continue
        if (topic, partition, offset) in positions:
            continue
        positions.add((topic, partition, offset))
        key = (topic, partition)
        batch.next_offsets[key] = max(batch.next_offsets.get(key, 0), offset + 1)
        source = trusted_source(topic, partition, offset)
        value = message.value()
        payload = value if isinstance(value, bytes) else b""
        arrival = arrivals.of(message)
        decoded = decoder.decode_message(payload, _headers(message), source, arrival, bounds.now)
        batch.records.extend(decoded.records)
        error = decoded.failure
        if error is not None:
            if error.reason is DeadLetterReason.DECODER_FAILURE:
                log.error(
                    "decoder failed",
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    detail=error.detail,
                )
            batch.dead_letters.append(DeadLetter(error.reason.value, error.detail, payload, source))
    batch.templates = decoder.miner.learnt()
    return batch
