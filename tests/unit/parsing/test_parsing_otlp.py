"""OTLP values from the collector agent (header logsentinel-format: otlp-logs.v1): many records
per value, each parsed like a Fluent Bit line with the same workload identity."""

from __future__ import annotations

import pytest

from logsentinel.domain import Level, SourcePosition
from logsentinel.parsing import (
    FORMAT_HEADER,
    OTLP_LOGS_FORMAT,
    DeadLetterError,
    DeadLetterReason,
    RecordDecoder,
)
from support.parsing import FIXTURE_TIME, fluent_bit_value, otlp_value

HEADERS = {FORMAT_HEADER: OTLP_LOGS_FORMAT}
SOURCE = SourcePosition(topic="logs", partition=1, offset=40)


def test_every_record_of_a_value_is_decoded_in_order_with_the_values_position(
    decoder: RecordDecoder,
) -> None:
    value = otlp_value(
        '{"level":"error","msg":"payment 1 failed","order":7}', "INFO started", "plain line"
    )
    decoded = decoder.decode_message(value, HEADERS, SOURCE)
    assert decoded.failure is None
    assert [r.message for r in decoded.records] == ["payment 1 failed", "started", "plain line"]
    first = decoded.records[0]
    assert first.level is Level.ERROR
    assert first.attributes["order"] == 7
    assert [r.source for r in decoded.records] == [SOURCE] * 3
    assert first.timestamp == FIXTURE_TIME
    assert first.stream == "stdout"


def test_workload_identity_matches_the_fluent_bit_records(decoder: RecordDecoder) -> None:
    pod = "checkout-7d9f8b6c5d-x2x9k"
    otlp = decoder.decode_message(
        otlp_value("hello", pod=pod, resource={"k8s.node.name": "node-1"}), HEADERS
    ).records[0]
    fluent = decoder.decode(fluent_bit_value("hello"))
    assert (otlp.namespace, otlp.pod, otlp.container, otlp.service) == (
        "shop",
        pod,
        "app",
        "checkout",
    )
    assert otlp.service == fluent.service
    assert otlp.template_id == fluent.template_id


def test_service_labels_win_over_the_owner_and_are_kept_as_labels(decoder: RecordDecoder) -> None:
    value = otlp_value("x", resource={"k8s.pod.labels.app.kubernetes.io/name": "payments"})
    record = decoder.decode_message(value, HEADERS).records[0]
    assert record.service == "payments"
    assert record.labels == {"app.kubernetes.io/name": "payments"}


def test_the_owner_names_the_service_when_the_pod_name_does_not(decoder: RecordDecoder) -> None:
    value = otlp_value("x", pod="api-proxy", resource={"k8s.deployment.name": "gateway"})
    assert decoder.decode_message(value, HEADERS).records[0].service == "gateway"


def test_a_structured_body_is_a_json_message(decoder: RecordDecoder) -> None:
    value = otlp_value({"level": "warn", "msg": "slow query", "ms": "900"})
    record = decoder.decode_message(value, HEADERS).records[0]
    assert record.level is Level.WARN
    assert record.message == "slow query"


def test_bad_records_go_to_one_dead_letter_and_the_good_ones_are_kept(
    decoder: RecordDecoder,
) -> None:
    value = otlp_value("good", None, "also good")
    decoded = decoder.decode_message(value, HEADERS, SOURCE)
    assert [r.message for r in decoded.records] == ["good", "also good"]
    assert decoded.failure is not None
    assert decoded.failure.reason is DeadLetterReason.INVALID
    assert "record 1: body: missing" in decoded.failure.detail
    assert "the other 2 were stored" in decoded.failure.detail


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (b"\x0a\xff\xff", DeadLetterReason.UNDECODABLE, "not an OTLP logs request"),
        (otlp_value(), DeadLetterReason.INVALID, "without log records"),
        (otlp_value("x", namespace=None), DeadLetterReason.INVALID, "k8s.namespace.name: missing"),
        (otlp_value("x", pod=None), DeadLetterReason.INVALID, "k8s.pod.name: missing"),
        (None, DeadLetterReason.INVALID, "tombstone"),
    ],
)
def test_unreadable_values_are_dead_lettered_with_the_reason(
    decoder: RecordDecoder, value: bytes | None, reason: DeadLetterReason, detail: str
) -> None:
    decoded = decoder.decode_message(value, HEADERS)
    assert decoded.records == []
    assert decoded.failure is not None
    assert decoded.failure.reason is reason
    assert detail in decoded.failure.detail


def test_an_oversized_value_is_not_parsed() -> None:
    decoder = RecordDecoder(max_record_bytes=100)
    decoded = decoder.decode_message(otlp_value("x" * 200), HEADERS)
    assert decoded.failure is not None
    assert decoded.failure.reason is DeadLetterReason.OVERSIZED


def test_decode_takes_an_otlp_value_of_one_record_only(decoder: RecordDecoder) -> None:
    assert decoder.decode(otlp_value("one"), HEADERS).message == "one"
    with pytest.raises(DeadLetterError, match="2 OTLP log records where one was expected"):
        decoder.decode(otlp_value("one", "two"), HEADERS)


def test_fluent_bit_and_ingest_values_are_one_record_each(decoder: RecordDecoder) -> None:
    decoded = decoder.decode_message(fluent_bit_value("hello"))
    assert [r.message for r in decoded.records] == ["hello"]
    assert decoded.failure is None
    broken = decoder.decode_message(b"{not json")
    assert broken.records == []
    assert broken.failure is not None
    assert broken.failure.reason is DeadLetterReason.UNDECODABLE
