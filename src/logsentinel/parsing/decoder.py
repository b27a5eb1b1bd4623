"""From Kafka bytes to normalised :class:`LogRecord` s, or a :class:`DeadLetterError`.

Three shapes arrive on the topic, told apart by the ``logsentinel-format`` header:

- no header: a Fluent Bit record (:mod:`logsentinel.parsing.fluentbit`); the line in ``log``
  is parsed into message, level, time, trace id and attributes. The usual record is read
  straight from its bytes (:mod:`logsentinel.parsing.fluentbitshape`), any other from the
  decoded document, with the same result;
- ``otlp-logs.v1``: the OpenTelemetry Collector agent's OTLP request
  (:mod:`logsentinel.parsing.otlp`), any number of records, each read into the same envelope
  as a Fluent Bit record and parsed the same way (:meth:`RecordDecoder.decode_message`);
- ``logrecord.v1``: a record from our ingest API, the LogRecord wire form (camelCase JSON);
  it is validated, then normalised like any other.

Checks happen cheapest first: size before any parsing (oversized), then JSON (undecodable),
then shape (invalid). Invalid UTF-8 is not fatal: the bytes are decoded with U+FFFD in place
of the bad sequences and the record says so in ``logsentinel.invalid_utf8``; only a value
that is not JSON even then is undecodable.

Time: a record's time is the application's (parsed from the line), else the collector's (Fluent
Bit's ``@timestamp``), or the sender's for ingest records, provided the event-time window
(:class:`~logsentinel.domain.logrecord.EventTimeWindow`) accepts it around the record's arrival
(the Kafka timestamp). A refused time is replaced by the next accepted one, else the arrival
time, and the record keeps the original in ``logsentinel.original_time`` with the reason in
``logsentinel.time_replaced`` (:mod:`logsentinel.parsing.eventtime`). A caller decoding a batch
reads the clock once and passes it as ``now``, so the window's bounds are computed once a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import JsonValue, ValidationError

from logsentinel.domain import Level, LogRecord, SourcePosition
from logsentinel.domain.errors import summarise
from logsentinel.domain.logrecord import (
    FORMAT_HEADER,
    LOGRECORD_FORMAT,
    MAX_MESSAGE_LENGTH,
    OTLP_LOGS_FORMAT,
    EventTimeBounds,
    EventTimeWindow,
)
from logsentinel.domain.pipeline import CustomParser
from logsentinel.parsing.attributes import AttributeBuilder, clean_text, may_need_cleaning
from logsentinel.parsing.errors import DeadLetterError, DeadLetterReason
from logsentinel.parsing.eventtime import settle_time
from logsentinel.parsing.fields import structured_message
from logsentinel.parsing.fluentbit import Envelope, EnvelopeReader
from logsentinel.parsing.jsonio import JsonError, dumps_compact, loads
from logsentinel.parsing.messages import MessageParser, level_from_status_attribute
from logsentinel.parsing.otlp import read_request
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.parsing.records import trusted_record
from logsentinel.parsing.templates import TemplateMiner

_LOGRECORD_FORMATS = (LOGRECORD_FORMAT, LOGRECORD_FORMAT.decode())
_OTLP_FORMATS = (OTLP_LOGS_FORMAT, OTLP_LOGS_FORMAT.decode())
MAX_FAILURES_NAMED = 5
"""A dead letter for an OTLP message names at most this many of its bad records."""
DEFAULT_MAX_RECORD_BYTES = 256 * 1024
INVALID_UTF8_ATTRIBUTE = "logsentinel.invalid_utf8"


def _invalid(detail: str) -> DeadLetterError:
    return DeadLetterError(DeadLetterReason.INVALID, detail)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Decoded:
    """What one Kafka value holds: its good records, and a dead letter for the rest (the whole
    value when nothing in it could be read)."""

    records: list[LogRecord] = field(default_factory=list)
    failure: DeadLetterError | None = None


class RecordDecoder:
    """Decodes and normalises records; one per consumer thread (the miner is not thread-safe)."""

    def __init__(
        self,
        custom_parsers: Sequence[CustomParser] = (),
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        miner: TemplateMiner | None = None,
        event_time: EventTimeWindow | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be positive")
        self.max_record_bytes = max_record_bytes
        self.event_time = event_time if event_time is not None else EventTimeWindow()
        self._clock = clock
        self._bounds: EventTimeBounds | None = None
        self.miner = miner if miner is not None else TemplateMiner()
        self._messages = MessageParser(custom_parsers)
        self._envelopes = EnvelopeReader()

    def time_bounds(self, now: datetime | None = None) -> EventTimeBounds:
        """The event-time window at now (default: a fresh reading of the decoder's clock); the
        last bounds are reused while now stays the same, as it does across a batch."""
        if now is None:
            now = self._clock()
        bounds = self._bounds
        if bounds is None or bounds.window is not self.event_time or bounds.now != now:
            bounds = self._bounds = self.event_time.at(now)
        return bounds

    # --- Kafka values ------------------------------------------------------------------------

    def decode(
        self,
        value: bytes | None,
        headers: Mapping[str, bytes | str] | None = None,
        source: SourcePosition | None = None,
        arrival: datetime | None = None,
        now: datetime | None = None,
    ) -> LogRecord:
        """One Kafka value as a normalised record with its template id and source position.

        arrival: the Kafka timestamp, the time the event-time window is measured from (None,
        or one the window does not believe: now). now: the receiver's clock, read once for a
        batch (default: the decoder's clock, read for this record).

        Raises :class:`DeadLetterError` for bad input, and also, as the safety net, for any
        other error while decoding (a decoder bug on some input), with reason
        ``decoder-failure`` and the exception in the detail: one such record must not stop a
        partition.
        """
        try:
            return self._decode(value, headers, source, arrival, now)
        except DeadLetterError:
            raise
        except Exception as error:
            detail = f"{type(error).__name__}: {error}"[:1000]
            raise DeadLetterError(DeadLetterReason.DECODER_FAILURE, detail) from error

    def decode_message(
        self,
        value: bytes | None,
        headers: Mapping[str, bytes | str] | None = None,
        source: SourcePosition | None = None,
        arrival: datetime | None = None,
        now: datetime | None = None,
    ) -> Decoded:
        """Every record of one Kafka value; never raises for bad input.

        A Fluent Bit or ingest value is one record (or one dead letter). An OTLP value may hold
        many: each good one is returned, all sharing the value's source position (the writer
        keeps or skips a value's records together); the bad ones are named in one dead letter
        carrying the whole value, whose reason is the first bad record's.
        """
        record_format = headers.get(FORMAT_HEADER) if headers else None
        if record_format not in _OTLP_FORMATS:
            try:
                return Decoded([self.decode(value, headers, source, arrival, now)])
            except DeadLetterError as error:
                return Decoded(failure=error)
        try:
            return self._decode_otlp(value, source, arrival, now)
        except DeadLetterError as error:
            return Decoded(failure=error)
        except Exception as error:
            detail = f"{type(error).__name__}: {error}"[:1000]
            return Decoded(failure=DeadLetterError(DeadLetterReason.DECODER_FAILURE, detail))

    def _sized(self, value: bytes | None) -> bytes:
        """The value, checked first of all: present and within max_record_bytes."""
        if value is None:
            raise _invalid("value: missing (a tombstone)")
        if len(value) > self.max_record_bytes:
            raise DeadLetterError(
                DeadLetterReason.OVERSIZED,
                f"value: {len(value)} bytes, more than the limit of {self.max_record_bytes}",
            )
        return value

    @staticmethod
    def _single(decoded: Decoded) -> LogRecord:
        if decoded.failure is not None:
            raise decoded.failure
        if len(decoded.records) != 1:
            raise _invalid(
                f"value: {len(decoded.records)} OTLP log records where one was expected "
                "(decode_message reads many)"
            )
        return decoded.records[0]

    def _decode_otlp(
        self,
        value: bytes | None,
        source: SourcePosition | None,
        arrival: datetime | None,
        now: datetime | None,
    ) -> Decoded:
        value = self._sized(value)
        clean = may_need_cleaning(value)
        decoded = Decoded()
        failures: list[tuple[int, DeadLetterError]] = []
        total = 0
        for item in read_request(value, clean):
            total += 1
            try:
                if item.error is not None:
                    raise item.error
                assert item.envelope is not None
                decoded.records.append(
                    self._from_envelope(item.envelope, False, clean, source, arrival, now)
                )
            except DeadLetterError as error:
                failures.append((item.index, error))
            except Exception as error:
                detail = f"{type(error).__name__}: {error}"[:1000]
                failures.append(
                    (item.index, DeadLetterError(DeadLetterReason.DECODER_FAILURE, detail))
                )
        if failures:
            named = "; ".join(
                f"record {index}: {error.detail}" for index, error in failures[:MAX_FAILURES_NAMED]
            )
            more = len(failures) - MAX_FAILURES_NAMED
            detail = f"{len(failures)} of {total} OTLP log records rejected ({named}"
            detail += f"; and {more} more)" if more > 0 else ")"
            if decoded.records:
                detail += f"; the other {len(decoded.records)} were stored"
            decoded.failure = DeadLetterError(failures[0][1].reason, detail)
        return decoded

    def _decode(
        self,
        value: bytes | None,
        headers: Mapping[str, bytes | str] | None,
        source: SourcePosition | None,
        arrival: datetime | None,
        now: datetime | None,
    ) -> LogRecord:
        value = self._sized(value)
        record_format = headers.get(FORMAT_HEADER) if headers else None
        if record_format in _OTLP_FORMATS:
            return self._single(self._decode_otlp(value, source, arrival, now))
        clean = may_need_cleaning(value)
        if record_format is None and not clean:
            envelope = self._envelopes.read_value(value)
            if envelope is not None:  # the usual Fluent Bit record, read without the document
                return self._from_envelope(envelope, False, False, source, arrival, now)
        try:
            document = loads(value)
            invalid_utf8 = False
        except (UnicodeDecodeError, JsonError):
            document, invalid_utf8 = self._load_slowly(value)
        if not isinstance(document, dict):
            raise _invalid(f"value: expected a JSON object, got {type(document).__name__}")
        if record_format is None:
            envelope = self._envelopes.read(document, clean)
            return self._from_envelope(envelope, invalid_utf8, clean, source, arrival, now)
        if record_format in _LOGRECORD_FORMATS:
            return self._from_ingest(document, clean, source, arrival, now)

        raise _invalid(f"headers.{FORMAT_HEADER}: unknown format {record_format!r:.60}")

    @staticmethod
    def _load_slowly(value: bytes) -> tuple[Any, bool]:
        """The document when the fast parse failed: bad UTF-8 is replaced, else undecodable."""
        try:
            return loads(value), False
        except UnicodeDecodeError:
            pass
        except JsonError as error:
            raise DeadLetterError(
                DeadLetterReason.UNDECODABLE, f"value: not JSON: {error}"
            ) from None
        try:
            return loads(value.decode("utf-8", "replace")), True
        except JsonError as error:
            raise DeadLetterError(
                DeadLetterReason.UNDECODABLE, f"value: not UTF-8 and not JSON: {error}"
            ) from None

    def _from_envelope(
        self,
        envelope: Envelope,
        invalid_utf8: bool,
        clean: bool,
        source: SourcePosition | None,
        arrival: datetime | None,
        now: datetime | None,
    ) -> LogRecord:
        pod = envelope.pod
        log = envelope.log
        if isinstance(log, str):
            parsed = self._messages.parse(log, pod.service, clean)
        elif isinstance(log, dict):
            parsed = structured_message(log, dumps_compact(log), "json", clean)
        else:
            raise _invalid(f"log: expected text, got {type(log).__name__}")
        if len(parsed.message) > MAX_MESSAGE_LENGTH:
            raise DeadLetterError(
                DeadLetterReason.OVERSIZED,
                f"log: message of {len(parsed.message)} characters, "
                f"more than the limit of {MAX_MESSAGE_LENGTH}",
            )
        attributes = parsed.attributes
        if invalid_utf8:
            attributes[INVALID_UTF8_ATTRIBUTE] = True
        template = self.miner.match(parsed.template_source or parsed.message)
        bounds = self.time_bounds(now)
        arrival = bounds.arrival(arrival)
        first = parsed.timestamp if parsed.timestamp is not None else envelope.timestamp
        if first is not None and bounds.accepts(first, arrival):
            timestamp = first  # the common case: the first time claimed stands, nothing to mark
        else:
            timestamp = settle_time(
                bounds,
                (
                    (parsed.timestamp, parsed.time_written, "the application's"),
                    (envelope.timestamp, None, "the collector's"),
                ),
                arrival,
                attributes,
            )
        return trusted_record(
            timestamp=timestamp,
            level=parsed.level or Level.UNKNOWN,
            message=parsed.message,
            service=pod.service,
            namespace=pod.namespace,
            pod=pod.pod,
            container=pod.container,
            node=pod.node,
            stream=envelope.stream,
            labels=dict(pod.labels),
            template_id=template.id,
            trace_id=parsed.trace_id,
            attributes=attributes,
            source=source,
        )

    def _from_ingest(
        self,
        document: dict[str, Any],
        clean: bool,
        source: SourcePosition | None,
        arrival: datetime | None,
        now: datetime | None,
    ) -> LogRecord:
        attributes = document.get("attributes")
        if isinstance(attributes, dict):
            document["attributes"] = _bounded_attributes(attributes, clean)
        if clean:
            document = _cleaned_document(document)
        document["source"] = source
        try:
            record = LogRecord.model_validate(document)
        except ValidationError as error:
            raise _invalid(summarise(error)) from None
        written = document.get("timestamp")
        if not isinstance(written, str | int | float) or isinstance(written, bool):
            written = None
        return self._normalise(record, clean, True, arrival, now, written)

    # --- records from the API ----------------------------------------------------------------

    def normalise(self, record: LogRecord, arrival: datetime | None = None) -> LogRecord:
        """Fill in what the sender left open and set the template id.

        A record without attributes is treated as a raw line: its message is parsed like a
        Fluent Bit line (a JSON line's ``msg`` becomes the message, the other fields become
        attributes). A record with attributes keeps its message and attributes (flattened and
        bounded like parsed ones). Either way the sender's level, trace id and timestamp win
        over anything parsed, an unknown level is inferred, and the template id is always
        recomputed (a sender cannot know our ids). A timestamp outside the event-time window
        around arrival (default: now, the request's time) is replaced by arrival and the record
        marked, as for records from Kafka.
        """
        return self._normalise(record, True, False, arrival, None, None)

    def _normalise(
        self,
        record: LogRecord,
        clean: bool,
        attributes_bounded: bool,
        arrival: datetime | None,
        now: datetime | None,
        written: JsonValue,
    ) -> LogRecord:
        message = clean_text(record.message) if clean else record.message
        parsed: ParsedMessage = self._messages.parse(message, record.service, clean)
        update: dict[str, Any] = {}
        if record.attributes:
            attributes = record.attributes
            if not attributes_bounded:
                attributes = _bounded_attributes(attributes, clean)
            update["attributes"] = attributes
            update["message"] = message
            template_source = parsed.template_source if parsed.message == message else None
            template_source = template_source or message
        else:
            update["attributes"] = parsed.attributes
            update["message"] = parsed.message
            template_source = parsed.template_source or parsed.message
        if record.level is Level.UNKNOWN:
            level = parsed.level or level_from_status_attribute(update["attributes"])
            if level is not None:
                update["level"] = level
        if record.trace_id is None and parsed.trace_id is not None:
            update["trace_id"] = parsed.trace_id
        bounds = self.time_bounds(now)
        arrival = bounds.arrival(arrival)
        if not bounds.accepts(record.timestamp, arrival):
            marks: dict[str, JsonValue] = {}
            update["timestamp"] = settle_time(
                bounds, ((record.timestamp, written, "the sender's"),), arrival, marks
            )
            update["attributes"] = {**update["attributes"], **marks}
        update["template_id"] = self.miner.match(template_source).id
        return record.model_copy(update=update)


def _bounded_attributes(attributes: Mapping[str, Any], clean: bool) -> dict[str, JsonValue]:
    builder = AttributeBuilder(clean)
    for key, value in attributes.items():
        builder.add(str(key), value)
    return builder.build()


def _cleaned_document(document: dict[str, Any]) -> dict[str, Any]:
    """The ingest document with NUL and lone surrogates replaced in its text fields."""
    cleaned: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, str):
            value = clean_text(value)
        elif key == "labels" and isinstance(value, dict):
            value = {
                clean_text(str(name)): clean_text(text) if isinstance(text, str) else text
                for name, text in value.items()
            }
        cleaned[clean_text(key)] = value
    return cleaned
