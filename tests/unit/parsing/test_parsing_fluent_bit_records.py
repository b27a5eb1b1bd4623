"""Fluent Bit record shapes (tests/fixtures/fluent-bit/records.yaml) decode to LogRecords."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from logsentinel.domain import Level, SourcePosition
from logsentinel.parsing import RecordDecoder
from support.parsing import (
    KUBERNETES,
    fixture_clock,
    fluent_bit_value,
    load_fixture,
    revalidated,
)

RECORDS: list[dict[str, Any]] = load_fixture("fluent-bit/records.yaml")


@pytest.mark.parametrize("case", RECORDS, ids=[case["name"] for case in RECORDS])
def test_fixture_record_decodes_to_expected_fields(case: dict[str, Any]) -> None:
    written = case["expect"].get("timestamp")
    # decoded when it was written: some fixtures are real records from years ago
    decoder = RecordDecoder(
        clock=(lambda: datetime.fromisoformat(written)) if written else fixture_clock
    )
    source = SourcePosition(topic="logsentinel-logs", partition=3, offset=1234)
    record = decoder.decode(case["value"].encode(), headers=None, source=source)
    for field, expected in case["expect"].items():
        actual = getattr(record, field)
        if field == "timestamp":
            assert actual == datetime.fromisoformat(expected)
        elif field == "level":
            assert actual is Level(expected)
        elif field == "stream":
            assert actual is not None
            assert actual.value == expected
        else:
            assert actual == expected, field
    assert record.source == source
    assert record.template_id is not None
    assert len(record.template_id) == 16


@pytest.mark.parametrize("case", RECORDS, ids=[case["name"] for case in RECORDS])
def test_decoded_records_satisfy_the_schema(decoder: RecordDecoder, case: dict[str, Any]) -> None:
    """The decoder builds records without pydantic validation; full validation must agree."""
    record = decoder.decode(case["value"].encode())
    assert revalidated(record) == record
    assert record.to_wire()["service"] == record.service


def test_iso8601_and_double_timestamps_are_the_same_instant(decoder: RecordDecoder) -> None:
    iso = decoder.decode(fluent_bit_value("x", **{"@timestamp": "2026-11-22T12:00:00.250000Z"}))
    double = decoder.decode(fluent_bit_value("x", **{"@timestamp": 1795348800.25}))
    assert iso.timestamp == double.timestamp
    assert iso.timestamp.isoformat() == "2026-11-22T12:00:00.250000+00:00"


def test_cri_time_is_used_when_the_output_timestamp_is_missing(decoder: RecordDecoder) -> None:
    value = fluent_bit_value("x", **{"@timestamp": None, "time": "2026-11-22T12:00:07.5Z"})
    assert decoder.decode(value).timestamp.isoformat() == "2026-11-22T12:00:07.500000+00:00"


def test_application_timestamp_wins_over_the_collectors(decoder: RecordDecoder) -> None:
    line = '{"msg":"late","time":"2026-11-22T11:59:59.5Z"}'
    record = decoder.decode(fluent_bit_value(line))
    assert record.timestamp.isoformat() == "2026-11-22T11:59:59.500000+00:00"


def test_kafka_key_field_is_not_an_attribute(decoder: RecordDecoder) -> None:
    record = decoder.decode(fluent_bit_value("plain"))
    assert "logsentinel_key" not in record.attributes
    assert record.partition_key == "shop/checkout"


def test_labels_that_cannot_be_kubernetes_labels_are_dropped(decoder: RecordDecoder) -> None:
    kubernetes = {
        "pod_name": "api-0",
        "namespace_name": "shop",
        "labels": {"app": "api", "too-long": "x" * 64, "number": 3},
    }
    record = decoder.decode(fluent_bit_value("hi", kubernetes=kubernetes))
    assert record.labels == {"app": "api"}
    assert record.service == "api"


def test_records_of_one_pod_do_not_share_a_labels_dict(decoder: RecordDecoder) -> None:
    first = decoder.decode(fluent_bit_value("one"))
    second = decoder.decode(fluent_bit_value("two"))
    first.labels["changed"] = "yes"
    assert "changed" not in second.labels


def test_changed_pod_labels_are_noticed(decoder: RecordDecoder) -> None:
    decoder.decode(fluent_bit_value("before"))
    kubernetes = {**KUBERNETES, "labels": {"app.kubernetes.io/name": "checkout-v2"}}
    assert decoder.decode(fluent_bit_value("after", kubernetes=kubernetes)).service == "checkout-v2"
