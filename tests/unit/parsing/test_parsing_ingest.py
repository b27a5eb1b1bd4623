"""Records from the ingest API (header logsentinel-format: logrecord.v1) and normalise()."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from logsentinel.domain import Level, LogRecord, SourcePosition
from logsentinel.parsing import (
    FORMAT_HEADER,
    LOGRECORD_FORMAT,
    DeadLetterError,
    DeadLetterReason,
    RecordDecoder,
)

HEADERS = {FORMAT_HEADER: LOGRECORD_FORMAT}
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def ingest_value(**fields: Any) -> bytes:
    record = {"timestamp": "2026-11-22T12:00:00Z", "service": "api", "namespace": "shop"}
    record.update(fields)
    return json.dumps(record).encode()


def test_header_names_the_wire_format() -> None:
    assert FORMAT_HEADER == "logsentinel-format"
    assert LOGRECORD_FORMAT == b"logrecord.v1"


def test_ingest_record_is_validated_normalised_and_positioned(decoder: RecordDecoder) -> None:
    source = SourcePosition(topic="logs", partition=0, offset=9)
    value = ingest_value(message='{"level":"warn","msg":"slow","ms":900}', traceId="t-1")
    record = decoder.decode(value, headers=HEADERS, source=source)
    assert record.message == "slow"
    assert record.level is Level.WARN
    assert record.attributes == {"ms": 900}
    assert record.trace_id == "t-1"
    assert record.source == source
    assert record.template_id is not None
    assert record.timestamp == NOW


def test_header_value_may_be_text(decoder: RecordDecoder) -> None:
    record = decoder.decode(ingest_value(message="m"), headers={FORMAT_HEADER: "logrecord.v1"})
    assert record.service == "api"


def test_ingest_record_with_attributes_keeps_its_message(decoder: RecordDecoder) -> None:
    value = ingest_value(
        message="GET /x 503", level="unknown", attributes={"status": 503, "http": {"route": "/x"}}
    )
    record = decoder.decode(value, headers=HEADERS)
    assert record.message == "GET /x 503"
    assert record.attributes == {"status": 503, "http.route": "/x"}
    assert record.level is Level.ERROR  # inferred from the status attribute


def test_senders_level_and_template_id(decoder: RecordDecoder) -> None:
    value = ingest_value(message="ERROR disk", level="info", templateId="made-up")
    record = decoder.decode(value, headers=HEADERS)
    assert record.level is Level.INFO
    assert record.template_id != "made-up"


def test_sender_cannot_choose_the_source_position(decoder: RecordDecoder) -> None:
    value = ingest_value(message="m", source={"topic": "x", "partition": 1, "offset": 1})
    assert decoder.decode(value, headers=HEADERS).source is None


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"service": ""}, "service:"),
        ({"timestamp": "not a time"}, "timestamp:"),
        ({"level": "loud"}, "level:"),
        ({"unexpected": 1}, "unexpected:"),
    ],
)
def test_invalid_ingest_records_name_the_field(
    decoder: RecordDecoder, fields: dict[str, Any], detail: str
) -> None:
    value = ingest_value(message="m", **fields)
    with pytest.raises(DeadLetterError) as caught:
        decoder.decode(value, headers=HEADERS)
    assert caught.value.reason is DeadLetterReason.INVALID
    assert detail in caught.value.detail


def test_missing_message_is_invalid(decoder: RecordDecoder) -> None:
    with pytest.raises(DeadLetterError, match="message"):
        decoder.decode(ingest_value(), headers=HEADERS)


def test_ingest_text_is_cleaned(decoder: RecordDecoder) -> None:
    value = ingest_value(message="a\u0000b", labels={"app": "x\u0000"}, attributes={"k": "\ud800"})
    record = decoder.decode(value, headers=HEADERS)
    assert record.message == "a\ufffdb"
    assert record.labels == {"app": "x\ufffd"}
    assert record.attributes == {"k": "\ufffd"}


def test_deep_ingest_attributes_are_bounded(decoder: RecordDecoder) -> None:
    nested: object = 1
    for _ in range(200):
        nested = {"n": nested}
    record = decoder.decode(ingest_value(message="m", attributes={"d": nested}), headers=HEADERS)
    (key,) = record.attributes
    assert key.count(".") == 4
    assert isinstance(record.attributes[key], str)


def test_normalise_for_the_api() -> None:
    decoder = RecordDecoder(clock=lambda: NOW)
    record = LogRecord(timestamp=NOW, message="level=error msg=boom code=7", service="api")
    normalised = decoder.normalise(record)
    assert (normalised.message, normalised.level) == ("boom", Level.ERROR)
    assert normalised.attributes == {"code": 7}
    assert normalised.template_id is not None
    assert record.template_id is None  # the input is not modified
    assert decoder.normalise(normalised).template_id == normalised.template_id
