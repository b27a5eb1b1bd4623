"""The dead-letter topic: each dead letter as one Kafka message that always fits.

A message's headers carry the reason, the detail (cut to MAX_DETAIL_BYTES), the source position
(``topic/partition/offset``), the size of the full payload and its SHA-256 digest; its value is
the payload, cut to what the producer's message.max.bytes leaves after the headers. The full
payload is kept in PostgreSQL's dead_letters table (storage/writer.py).

A letter the broker refuses for what it is (an error in PER_MESSAGE_REFUSALS, also when the
letter is sent on its own) is stored in PostgreSQL only, with the refusal added to its detail,
and its partition moves on. Any other failure (broker unavailable, no acknowledgement in time)
is DeadLetterTopicError: the processor retries the batch later, without producing again the
letters the topic already acknowledged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping, Sequence

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from logsentinel.processors import metrics
from logsentinel.processors.kafka import message_max_bytes
from logsentinel.storage.writer import DeadLetter

log = structlog.get_logger("logsentinel.processors")

ACK_TIMEOUT_SECONDS = 10.0
"""How long a batch's dead letters may wait for the broker before the batch is retried."""
MAX_DETAIL_BYTES = 1024
"""The detail header's limit (a quarter of message.max.bytes when that is smaller: the headers
fit librdkafka's smallest setting, 1000 bytes)."""
RECORD_FRAMING_BYTES = 64
"""A message's framing without headers, as librdkafka counts it against message.max.bytes (it
counts 36 bytes; the rest is margin)."""
HEADER_FRAMING_BYTES = 10
"""Per header: the varint lengths of its key and value."""

PER_MESSAGE_REFUSALS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD,
        KafkaError._BAD_MSG,
    }
)
"""Error codes that refuse one message for what it is: producing it again changes nothing."""

Headers = list[tuple[str, bytes]]
Position = tuple[str, int, int]


class DeadLetterTopicError(RuntimeError):
    """The dead-letter topic did not take the records; retry the batch later."""


def envelope(letter: DeadLetter, max_message_bytes: int) -> tuple[bytes, Headers]:
    """The value and headers of letter's message: never more than max_message_bytes in all
    (librdkafka's count), for topic names up to Kafka's 249 characters."""
    headers: Headers = [
        ("reason", letter.reason.encode()),
        ("detail", _cut_text(letter.detail, min(MAX_DETAIL_BYTES, max_message_bytes // 4))),
    ]
    if letter.source is not None:
        origin = f"{letter.source.topic}/{letter.source.partition}/{letter.source.offset}"
        headers.append(("source", origin.encode()))
    headers.append(("payload-size", str(len(letter.payload)).encode()))
    headers.append(("payload-sha256", hashlib.sha256(letter.payload).hexdigest().encode()))
    framing = RECORD_FRAMING_BYTES + sum(
        len(key) + len(value) + HEADER_FRAMING_BYTES for key, value in headers
    )
    return letter.payload[: max(max_message_bytes - framing, 0)], headers


def _cut_text(text: str, limit: int) -> bytes:
    """text as UTF-8, at most limit bytes, never ending inside a character."""
    encoded = text.encode(errors="replace")
    if len(encoded) <= limit:
        return encoded
    return encoded[:limit].decode(errors="ignore").encode()


def _refused_for_good(error: KafkaError | None) -> bool:
    return error is not None and error.code() in PER_MESSAGE_REFUSALS


def _position(letter: DeadLetter) -> Position | None:
    source = letter.source
    return None if source is None else (source.topic, source.partition, source.offset)


class DeadLetterTopic:
    """Produces dead letters to their topic and waits for the broker's acknowledgement."""

    def __init__(self, topic: str, producer_config: Mapping[str, object]) -> None:
        self.topic = topic
        self.producer = Producer(dict(producer_config))
        self.max_message_bytes = message_max_bytes(producer_config)
        self._outcomes: dict[Position, str | None] = {}
        """Letters of the batch being written that the topic already answered: None when it
        acknowledged them, else why it refused them for good."""

    def publish(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Produce the letters not answered yet and wait for the broker.

        Returns the letters as they are to be stored: the detail of one refused for good says
        so. Raises DeadLetterTopicError when the topic is unavailable.
        """
        pending = [
            (index, letter)
            for index, letter in enumerate(letters)
            if _position(letter) not in self._outcomes
        ]
        answers = self._send(pending)
        if len(pending) > 1:
            # The broker refuses a whole produce batch that is too large, small letters in it
            # too: a refused letter is refused for good only when it is refused on its own.
            for item in [item for item in pending if _refused_for_good(answers[item[0]])]:
                answers.update(self._send([item]))
        notes: dict[int, str] = {}
        unavailable: KafkaError | None = None
        for index, letter in pending:
            error = answers[index]
            if error is not None and not _refused_for_good(error):
                unavailable = error
                continue
            note = None if error is None else self._refused(letter, error)
            if note is not None:
                notes[index] = note
            position = _position(letter)
            if position is not None:
                self._outcomes[position] = note
        if unavailable is not None:
            raise DeadLetterTopicError(
                f"dead-letter topic {self.topic} did not take a letter: {unavailable.str()}"
            )
        return self._as_stored(letters, notes)

    def settled(self) -> None:
        """The batch was stored: forget what the topic answered for its letters."""
        self._outcomes.clear()

    def flush(self, timeout: float) -> int:
        """Wait up to timeout for messages still queued; the number left."""
        return int(self.producer.flush(timeout))

    def _send(self, items: Sequence[tuple[int, DeadLetter]]) -> dict[int, KafkaError | None]:
        """Produce (index, letter) items and wait for every answer: index -> the error, None
        when acknowledged. Raises DeadLetterTopicError when answers do not come in time."""
        answers: dict[int, KafkaError | None] = {}
        if not items:
            return answers
        deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
        for index, letter in items:
            immediate = self._produce(index, letter, deadline, answers)
            if immediate is not None:
                answers[index] = immediate
        if self.producer.flush(max(deadline - time.monotonic(), 0.0)) > 0:
            raise DeadLetterTopicError(
                f"dead-letter topic {self.topic} did not acknowledge within "
                f"{ACK_TIMEOUT_SECONDS:g} s"
            )
        return answers

    def _produce(
        self,
        index: int,
        letter: DeadLetter,
        deadline: float,
        answers: dict[int, KafkaError | None],
    ) -> KafkaError | None:
        """Queue one letter; its answer arrives in answers. Returns an immediate refusal."""
        value, headers = envelope(letter, self.max_message_bytes)
        as_produced: list[tuple[str, str | bytes | None]] = list(headers)

        def delivered(error: KafkaError | None, _message: Message) -> None:
            answers[index] = error

        while True:
            try:
                self.producer.produce(
                    self.topic, value=value, headers=as_produced, on_delivery=delivered
                )
                return None
            except BufferError as full:  # the local queue is full: let deliveries drain it
                if time.monotonic() >= deadline:
                    raise DeadLetterTopicError(
                        f"dead-letter producer queue stayed full for {ACK_TIMEOUT_SECONDS:g} s"
                    ) from full
                self.producer.poll(0.1)
            except KafkaException as exception:
                refusal = exception.args[0]
                if not isinstance(refusal, KafkaError):
                    raise DeadLetterTopicError(
                        f"dead-letter topic {self.topic}: {exception}"
                    ) from exception
                return refusal

    def _refused(self, letter: DeadLetter, error: KafkaError) -> str:
        source = letter.source
        log.warning(
            "dead letter refused by its topic; kept in the database only",
            topic=self.topic,
            error=error.name(),
            detail=error.str(),
            source_topic=source.topic if source else None,
            source_partition=source.partition if source else None,
            source_offset=source.offset if source else None,
            payload_bytes=len(letter.payload),
        )
        metrics.DEAD_LETTERS_REFUSED.labels(error.name()).inc()
        return f"not on dead-letter topic {self.topic}: {error.name()}: {error.str()}"

    def _as_stored(
        self, letters: Sequence[DeadLetter], notes: Mapping[int, str]
    ) -> list[DeadLetter]:
        stored: list[DeadLetter] = []
        for index, letter in enumerate(letters):
            position = _position(letter)
            note = notes.get(index) if position is None else self._outcomes.get(position)
            if note is not None:
                letter = dataclasses.replace(letter, detail=f"{letter.detail}; {note}")
            stored.append(letter)
        return stored
