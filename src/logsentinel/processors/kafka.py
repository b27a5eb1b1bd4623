"""Kafka clients configured for no loss: the consumer commits manually, producers use
acks=all with idempotence."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import Consumer, Producer


def consumer(bootstrap: str, group: str, extra: Mapping[str, str] | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # the API's ingest transactions are all or nothing only for committed reads
            "isolation.level": "read_committed",
            # Bounded prefetch keeps the processor's memory small under backlog.
            "queued.max.messages.kbytes": 8192,
            "fetch.max.bytes": 16 * 1024 * 1024,
            **(extra or {}),
        }
    )


def producer(bootstrap: str, extra: Mapping[str, str] | None = None) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            **(extra or {}),
        }
    )
