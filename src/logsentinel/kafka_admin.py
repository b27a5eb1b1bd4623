"""Kafka topics through the admin API: the operator makes sure a LogPipeline's topics exist.

The only Kafka client code outside the processors (and the API's ingest producer): topic
management is an adapter, like the Kubernetes ones, shared by whoever needs it
(docs/architecture.md). Errors say which brokers and topic, and whether Kafka was unreachable
or refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic


class KafkaAdminError(Exception):
    """Kafka refused the request; the message says what and why."""


class KafkaUnreachableError(KafkaAdminError):
    """No broker answered within the timeout."""


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    created: bool  # False: it existed already


def _client(bootstrap: str, security: Mapping[str, str] | None) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **(security or {})})


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    replication_factor: int | None = None,
    security: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> TopicState:
    """Create the topic when it does not exist; an existing topic is left as it is (its
    partition count is reported, never reduced or silently grown)."""
    admin = _client(bootstrap, security)
    existing = _partitions(admin, bootstrap, topic, timeout)
    if existing is not None:
        return TopicState(topic, existing, created=False)
    request = NewTopic(
        topic, num_partitions=partitions, replication_factor=replication_factor or -1
    )
    future = admin.create_topics([request], operation_timeout=timeout, request_timeout=timeout)[
        topic
    ]
    try:
        future.result(timeout=timeout)
    except KafkaException as error:
        kafka_error: KafkaError = error.args[0]
        if kafka_error.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # created meanwhile
            found = _partitions(admin, bootstrap, topic, timeout)
            return TopicState(topic, found or partitions, created=False)
        raise KafkaAdminError(
            f"creating topic {topic} on {bootstrap}: {kafka_error.str()}"
        ) from None
    return TopicState(topic, partitions, created=True)


def _partitions(admin: AdminClient, bootstrap: str, topic: str, timeout: float) -> int | None:
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise KafkaUnreachableError(
            f"Kafka at {bootstrap} did not answer within {timeout:g} s: {error.args[0].str()}"
        ) from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return None
    return len(found.partitions)
