"""Dead letters on their topic: an envelope librdkafka always accepts, refusals told apart from
outages, nothing produced twice when a batch is retried."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from logsentinel.domain.logrecord import SourcePosition
from logsentinel.processors.deadletters import (
    DeadLetterTopic,
    DeadLetterTopicError,
    envelope,
)
from logsentinel.processors.kafka import producer_config
from logsentinel.storage.writer import DeadLetter

LONGEST_TOPIC = "t" * 249


def letter(payload: bytes, offset: int = 7, detail: str = "too big") -> DeadLetter:
    return DeadLetter(
        "oversized",
        detail,
        payload,
        SourcePosition(topic=LONGEST_TOPIC, partition=3, offset=offset),
    )


@pytest.fixture
def offline_producer() -> Iterator[Callable[[int], Producer]]:
    """Producers that never reach a broker: produce() only runs librdkafka's size check."""
    made: list[Producer] = []

    def make(max_bytes: int) -> Producer:
        producer = Producer(
            {"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": max_bytes, "log_level": 0}
        )
        made.append(producer)
        return producer

    yield make
    for producer in made:
        producer.purge()
        producer.flush(0)


@pytest.mark.parametrize("max_bytes", [1000, 10_000, 1_000_000])
@pytest.mark.parametrize("size", [0, 900, 20_000, 5 * 1024 * 1024])
def test_every_envelope_fits_message_max_bytes(
    offline_producer: Callable[[int], Producer], max_bytes: int, size: int
) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    value, headers = envelope(letter(payload, detail="é" * 5000), max_bytes)

    offline_producer(max_bytes).produce(LONGEST_TOPIC, value=value, headers=list(headers))
    fields = dict(headers)
    assert payload.startswith(value)
    assert fields["payload-size"] == str(size).encode()
    assert fields["payload-sha256"] == hashlib.sha256(payload).hexdigest().encode()
    assert fields["source"] == f"{LONGEST_TOPIC}/3/7".encode()
    assert fields["detail"].decode().startswith("éé")  # cut on a character boundary
    if size <= max_bytes // 2:
        assert value == payload


def test_the_whole_payload_would_not_fit(offline_producer: Callable[[int], Producer]) -> None:
    """The check above means something: the uncut payload is refused."""
    with pytest.raises(KafkaException) as refused:
        offline_producer(10_000).produce(LONGEST_TOPIC, value=b"x" * 10_000)
    assert refused.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE


class ScriptedProducer:
    """Answers each produced message with the error its script gives (None: acknowledged)."""

    def __init__(self, answer: Callable[[int, int], int | None]) -> None:
        self.answer = answer  # (payload size, messages in the flush) -> error code or None
        self.produced: list[bytes] = []
        self._queued: list[tuple[bytes, Callable[[Any, Any], None]]] = []

    def produce(self, _topic: str, *, value: bytes, headers: Any, on_delivery: Any) -> None:
        self.produced.append(value)
        self._queued.append((value, on_delivery))

    def flush(self, _timeout: float = 0) -> int:
        queued, self._queued = self._queued, []
        for value, delivered in queued:
            code = self.answer(len(value), len(queued))
            delivered(None if code is None else KafkaError(code), None)
        return 0

    def poll(self, _timeout: float = 0) -> int:
        return 0


def topic_with(producer: ScriptedProducer) -> DeadLetterTopic:
    topic = DeadLetterTopic("dead", producer_config("127.0.0.1:1"))
    topic.producer = producer  # type: ignore[assignment]
    return topic


def test_a_letter_refused_for_what_it_is_is_kept_with_the_refusal() -> None:
    def too_large_over_100_bytes(size: int, _together: int) -> int | None:
        return KafkaError.MSG_SIZE_TOO_LARGE if size > 100 else None

    producer = ScriptedProducer(too_large_over_100_bytes)
    letters = [letter(b"small", offset=1), letter(b"L" * 1000, offset=2)]

    stored = topic_with(producer).publish(letters)

    assert stored[0] == letters[0]
    assert stored[1].payload == letters[1].payload
    assert stored[1].detail.startswith("too big; not on dead-letter topic dead: MSG_SIZE_TOO_LARGE")


def test_a_letter_refused_only_with_others_is_sent_again_on_its_own() -> None:
    def batch_too_large(_size: int, together: int) -> int | None:
        return KafkaError.MSG_SIZE_TOO_LARGE if together > 1 else None

    producer = ScriptedProducer(batch_too_large)
    letters = [letter(b"one", offset=1), letter(b"two", offset=2)]

    assert topic_with(producer).publish(letters) == letters
    assert producer.produced == [b"one", b"two", b"one", b"two"]


def test_an_outage_retries_the_batch_without_producing_acknowledged_letters_again() -> None:
    outage = True

    def second_times_out(size: int, _together: int) -> int | None:
        return KafkaError._MSG_TIMED_OUT if outage and size == 3 else None

    producer = ScriptedProducer(second_times_out)
    topic = topic_with(producer)
    letters = [letter(b"a", offset=1), letter(b"bbb", offset=2), letter(b"cc", offset=3)]

    with pytest.raises(DeadLetterTopicError, match="did not take a letter"):
        topic.publish(letters)
    outage = False
    assert topic.publish(letters) == letters
    assert producer.produced == [b"a", b"bbb", b"cc", b"bbb"]

    topic.settled()  # the batch was stored; the next batch's letters are new
    topic.publish(letters[:1])
    assert producer.produced[-1] == b"a"
