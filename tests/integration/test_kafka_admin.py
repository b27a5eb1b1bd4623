"""Topic management against the local Kafka broker: create once, report an existing topic,
name the brokers when Kafka is unreachable."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient

from devstack.proc import free_port
from logsentinel.kafka_admin import KafkaUnreachableError, ensure_topic

pytestmark = pytest.mark.integration


def test_a_missing_topic_is_created_with_its_partitions_then_left_alone(
    kafka_bootstrap: str,
) -> None:
    topic = f"admin-{uuid.uuid4().hex[:8]}"
    first = ensure_topic(kafka_bootstrap, topic, partitions=3)
    assert (first.created, first.partitions) == (True, 3)
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert len(metadata.topics[topic].partitions) == 3
    again = ensure_topic(kafka_bootstrap, topic, partitions=6)
    assert (again.created, again.partitions) == (False, 3), "never silently changed"


def test_unreachable_kafka_is_reported_with_its_address() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with pytest.raises(KafkaUnreachableError, match=nowhere):
        ensure_topic(nowhere, "anything", partitions=1, timeout=2)
