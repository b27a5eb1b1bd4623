"""Kafka helpers for tests: create topics, produce sample logs, read a topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
    futures[name].result(timeout=30)


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Produce (key, value) pairs with acks=all; the number acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    acknowledged = 0

    def delivered(error: object, _message: object) -> None:
        nonlocal acknowledged
        assert error is None, error
        acknowledged += 1

    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: serve deliveries, then retry
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    return acknowledged


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[object]:
    """Read until expected messages arrived or the deadline passed."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    messages: list[object] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages


def container_line(namespace: str, pod: str, app: str, message: str, level: str) -> bytes:
    """A container log line as Fluent Bit ships it (kubernetes metadata and the record key)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "@timestamp": stamp,
            "time": stamp,
            "stream": "stdout",
            "_p": "F",
            "log": json.dumps({"level": level, "msg": message}),
            "kubernetes": {
                "pod_name": pod,
                "namespace_name": namespace,
                "labels": {"app": app},
                "host": "node-1",
                "container_name": app,
            },
            "logsentinel_key": f"{namespace}/{app}",
        }
    ).encode()


END_MARK = b"--end-of-test--"


def read_committed(bootstrap: str, topic: str, timeout: float = 60) -> list[Any]:
    """Every committed message of the topic (isolation.level=read_committed).

    An end mark is first written to each partition; a read_committed consumer can only reach
    it after every transaction before it ended, so the read is complete once each partition
    returned its mark (a transaction left open fails the deadline instead)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    partitions = list(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    for partition in partitions:
        producer.produce(topic, value=END_MARK, partition=partition)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"committed-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list[Any] = []
    unfinished = set(partitions)
    deadline = time.monotonic() + timeout
    try:
        while unfinished:
            assert time.monotonic() < deadline, f"no end mark read from partitions {unfinished}"
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            if message.value() == END_MARK:
                unfinished.discard(message.partition())
            else:
                messages.append(message)
    finally:
        consumer.close()
    return messages
