"""The local stack's Kafka is a real broker: a 3-partition topic, 10,000 messages through a
consumer group, each delivered exactly once, and the group's offsets committed."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

pytestmark = pytest.mark.integration

MESSAGES = 10_000
PARTITIONS = 3


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]
    )
    futures[topic].result(timeout=30)


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
    )
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    for i in range(MESSAGES):
        producer.produce(topic, key=f"k{i % 97}", value=f"msg-{i}", on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(60) == 0, "messages still undelivered after 60 s"
    assert errors == []


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


def test_10000_messages_consumed_exactly_once_by_a_group(
    kafka_bootstrap: str, kafka_topic: str
) -> None:
    _create_topic(kafka_bootstrap, kafka_topic)
    _produce(kafka_bootstrap, kafka_topic)

    group = f"{kafka_topic}-group"
    consumer = _consumer(kafka_bootstrap, group)
    consumer.subscribe([kafka_topic])
    seen: dict[str, tuple[int, int]] = {}
    duplicates: list[str] = []
    per_partition = dict.fromkeys(range(PARTITIONS), 0)
    deadline = time.monotonic() + 90
    try:
        while len(seen) < MESSAGES and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            for msg in batch:
                assert msg.error() is None, msg.error()
                value = (msg.value() or b"").decode()
                if value in seen:
                    duplicates.append(value)
                seen[value] = (msg.partition() or 0, msg.offset() or 0)
                per_partition[msg.partition() or 0] += 1
            if batch:
                consumer.commit(asynchronous=False)
        assert duplicates == []
        assert len(seen) == MESSAGES, f"consumed {len(seen)} of {MESSAGES} within the deadline"
        assert set(seen) == {f"msg-{i}" for i in range(MESSAGES)}
        assert all(count > 0 for count in per_partition.values()), per_partition

        committed = consumer.committed(
            [TopicPartition(kafka_topic, p) for p in range(PARTITIONS)], timeout=10
        )
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in committed]
        assert [tp.offset for tp in committed] == ends
        assert sum(ends) == MESSAGES
    finally:
        consumer.close()

    # A new member of the same group starts at the committed offsets: nothing is left.
    again = _consumer(kafka_bootstrap, group)
    again.subscribe([kafka_topic])
    try:
        deadline = time.monotonic() + 15
        while not again.assignment() and time.monotonic() < deadline:
            assert again.consume(num_messages=100, timeout=0.5) == []
        assert len(again.assignment()) == PARTITIONS
        assert again.consume(num_messages=100, timeout=2.0) == []
    finally:
        again.close()
