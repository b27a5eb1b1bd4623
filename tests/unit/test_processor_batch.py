"""Assembling a batch from consumed messages: each Kafka position is decoded once, even when a
rebalance delivered it twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from logsentinel.domain.logrecord import EventTimeWindow
from logsentinel.parsing import RecordDecoder
from logsentinel.processors.batch import assemble
from support.parsing import fluent_bit_value

NOW = datetime(2026, 11, 22, 12, 0, 5, tzinfo=UTC)
WINDOW = EventTimeWindow(max_age=timedelta(days=7), max_lead=timedelta(minutes=10))


def message(partition: int, offset: int, text: str) -> Message:
    return Message(
        topic="logs",
        partition=partition,
        offset=offset,
        value=fluent_bit_value(json.dumps({"msg": text})),
        timestamp=(TIMESTAMP_CREATE_TIME, int(NOW.timestamp() * 1000)),
    )


def test_a_position_delivered_twice_in_one_batch_is_decoded_once() -> None:
    decoder = RecordDecoder(event_time=WINDOW, clock=lambda: NOW)
    # Partition 1 was revoked and given back at its stored offset (10) while 10 and 11 were
    # already gathered: they come again after 0:5.
    messages = [
        message(1, 10, "first"),
        message(1, 11, "second"),
        message(0, 5, "other"),
        message(1, 10, "first"),
        message(1, 11, "second"),
        message(1, 12, "third"),
    ]
    batch = assemble(messages, decoder)
    positions = [(r.source.partition, r.source.offset) for r in batch.records if r.source]
    assert sorted(positions) == [(0, 5), (1, 10), (1, 11), (1, 12)]
    assert batch.next_offsets == {("logs", 0): 6, ("logs", 1): 13}
