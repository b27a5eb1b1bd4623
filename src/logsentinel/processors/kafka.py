"""Kafka clients configured for no loss: the consumer commits manually, producers use
acks=all with idempotence."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import Consumer, Producer

LIBRDKAFKA_MESSAGE_MAX_BYTES = 1_000_000
"""librdkafka's default message.max.bytes; below the broker's default limit (1048588 bytes)."""


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
            # End-of-partition events tell detection which partitions are caught up.
            "enable.partition.eof": True,
            # Bounded prefetch keeps the processor's memory small under backlog.
            "queued.max.messages.kbytes": 8192,
            "fetch.max.bytes": 16 * 1024 * 1024,
            **(extra or {}),
        }
    )


def producer_config(bootstrap: str, extra: Mapping[str, str] | None = None) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": LIBRDKAFKA_MESSAGE_MAX_BYTES,
        **(extra or {}),
    }


def producer(bootstrap: str, extra: Mapping[str, str] | None = None) -> Producer:
    return Producer(producer_config(bootstrap, extra))


def message_max_bytes(config: Mapping[str, object]) -> int:
    """The largest message, headers and framing included, a producer with this configuration
    sends (librdkafka refuses larger ones with MSG_SIZE_TOO_LARGE)."""
    return int(str(config.get("message.max.bytes", LIBRDKAFKA_MESSAGE_MAX_BYTES)))
