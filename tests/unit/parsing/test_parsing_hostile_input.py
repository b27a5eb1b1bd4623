"""Bad and hostile input never crashes the decoder: it is parsed safely or dead-lettered."""

from __future__ import annotations

import json

import pytest

from logsentinel.domain import Level
from logsentinel.domain.logrecord import MAX_MESSAGE_LENGTH
from logsentinel.parsing import (
    DeadLetterError,
    DeadLetterReason,
    MessageParser,
    RecordDecoder,
    Template,
    TemplateMiner,
)
from logsentinel.parsing.attributes import MAX_ATTRIBUTES, MAX_DEPTH
from logsentinel.parsing.decoder import INVALID_UTF8_ATTRIBUTE
from support.parsing import fixture_clock, fluent_bit_value, revalidated


def dead_letter(decoder: RecordDecoder, value: bytes | None, **kwargs: object) -> DeadLetterError:
    with pytest.raises(DeadLetterError) as caught:
        decoder.decode(value, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- sizes -----------------------------------------------------------------------------------


def test_one_megabyte_line_is_oversized_before_any_parsing(decoder: RecordDecoder) -> None:
    value = fluent_bit_value("x" * (1024 * 1024))
    error = dead_letter(decoder, value)
    assert error.reason is DeadLetterReason.OVERSIZED
    assert str(len(value)) in error.detail
    assert "262144" in error.detail
    # Garbage of that size is also "oversized", not "undecodable": size is checked first.
    assert dead_letter(decoder, b"\xff" * (1024 * 1024)).reason is DeadLetterReason.OVERSIZED


def test_record_size_limit_is_configurable() -> None:
    value = fluent_bit_value("y" * 2000)
    assert RecordDecoder(max_record_bytes=len(value)).decode(value).message == "y" * 2000
    error = dead_letter(RecordDecoder(max_record_bytes=len(value) - 1), value)
    assert error.reason is DeadLetterReason.OVERSIZED


def test_message_longer_than_the_schema_allows_is_oversized() -> None:
    decoder = RecordDecoder(max_record_bytes=4 * MAX_MESSAGE_LENGTH)
    error = dead_letter(decoder, fluent_bit_value("z" * (MAX_MESSAGE_LENGTH + 1)))
    assert error.reason is DeadLetterReason.OVERSIZED
    assert error.detail.startswith("log:")


# --- encoding --------------------------------------------------------------------------------


def test_invalid_utf8_in_the_line_is_replaced_and_flagged(decoder: RecordDecoder) -> None:
    value = fluent_bit_value("caf\u00e9 ok").replace(b"\\u00e9", b"\xc3\x28\xff")
    record = decoder.decode(value)
    assert record.message == "caf\ufffd(\ufffd ok"
    assert record.attributes[INVALID_UTF8_ATTRIBUTE] is True
    assert revalidated(record) == record


def test_envelope_that_is_not_json_even_after_replacement_is_undecodable(
    decoder: RecordDecoder,
) -> None:
    assert dead_letter(decoder, b"\xff\xfe{not json").reason is DeadLetterReason.UNDECODABLE
    error = dead_letter(decoder, b'{"log": "unterminated')
    assert error.reason is DeadLetterReason.UNDECODABLE
    assert error.detail.startswith("value: not JSON")


def test_nul_bytes_and_lone_surrogates_are_replaced_everywhere(decoder: RecordDecoder) -> None:
    line = json.dumps({"msg": "a\u0000b \ud800 c", "user\u0000": "x\u0000"})
    kubernetes = {
        "pod_name": "api-0",
        "namespace_name": "shop",
        "labels": {"app": "a\u0000pi"},
        "container_name": "c\u0000",
    }
    record = decoder.decode(fluent_bit_value(line, kubernetes=kubernetes))
    assert record.message == "a\ufffdb \ufffd c"
    assert record.attributes == {"user\ufffd": "x\ufffd"}
    assert record.labels == {"app": "a\ufffdpi"}
    assert record.service == "a\ufffdpi"
    assert record.container == "c\ufffd"
    wire = record.model_dump_json()
    assert "\\u0000" not in wire
    wire.encode("utf-8")  # no lone surrogate left


def test_raw_nul_byte_in_the_envelope_is_not_json(decoder: RecordDecoder) -> None:
    value = fluent_bit_value("abc").replace(b"abc", b"a\x00c")
    assert dead_letter(decoder, value).reason is DeadLetterReason.UNDECODABLE


# --- structure -------------------------------------------------------------------------------


def test_deeply_nested_json_line_is_kept_as_text_not_a_crash(decoder: RecordDecoder) -> None:
    line = "[" * 100_000 + "]" * 100_000
    record = decoder.decode(fluent_bit_value('{"a":' + line + "}"))
    assert record.message.startswith('{"a":[[[')
    assert record.attributes == {}


def test_nesting_beyond_the_depth_bound_is_stringified(decoder: RecordDecoder) -> None:
    nested: object = "leaf"
    for _ in range(50):
        nested = {"k": nested}
    record = decoder.decode(fluent_bit_value(json.dumps({"msg": "deep", "d": nested})))
    key = "d" + ".k" * MAX_DEPTH
    assert list(record.attributes) == [key]
    text = record.attributes[key]
    assert isinstance(text, str)
    assert text.startswith('{"k":{"k":')
    assert '"..."' in text
    assert revalidated(record) == record


def test_deep_lists_are_bounded_too(decoder: RecordDecoder) -> None:
    deep_list: object = [1]
    for _ in range(40):
        deep_list = [deep_list]
    record = decoder.decode(fluent_bit_value(json.dumps({"msg": "m", "l": deep_list})))
    value = record.attributes["l"]
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert depth <= MAX_DEPTH
    assert isinstance(value, str)


def test_deeply_nested_envelope_is_undecodable(decoder: RecordDecoder) -> None:
    value = b'{"log":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert dead_letter(decoder, value).reason is DeadLetterReason.UNDECODABLE


def test_too_many_attributes_are_counted_not_kept(decoder: RecordDecoder) -> None:
    fields = {f"k{index}": index for index in range(MAX_ATTRIBUTES + 50)}
    record = decoder.decode(fluent_bit_value(json.dumps({"msg": "wide", **fields})))
    assert len(record.attributes) == MAX_ATTRIBUTES + 1
    assert record.attributes["logsentinel.dropped_attributes"] == 50


def test_nan_in_a_json_line_is_not_json(decoder: RecordDecoder) -> None:
    record = decoder.decode(fluent_bit_value('{"msg":"m","v":NaN}'))
    assert record.message == '{"msg":"m","v":NaN}'
    assert record.attributes == {}


def test_huge_integers_stay_numbers(decoder: RecordDecoder) -> None:
    """orjson reads them as floats, the standard library exactly: a number either way."""
    record = decoder.decode(fluent_bit_value('{"msg":"m","big":123456789012345678901234567890}'))
    assert record.attributes["big"] == pytest.approx(1.2345678901234568e29)
    assert revalidated(record) == record


# --- text that looks like code ---------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        r"(a+)+$ ^(?P<x>.*)* [[:alpha:]] \d{1,3} %s %d %(name)s {0} {name!r} ${HOME} \x00",
        "%n%n%n%n%s%s%s%s",
        "{{ 7*7 }} {% raw %}",
        "'; DROP TABLE logs; --",
    ],
)
def test_regex_and_format_like_messages_are_plain_text(decoder: RecordDecoder, line: str) -> None:
    first = decoder.decode(fluent_bit_value(line))
    second = decoder.decode(fluent_bit_value(line))
    assert first.message == line
    assert first.template_id == second.template_id


def test_empty_and_whitespace_messages(decoder: RecordDecoder) -> None:
    empty = decoder.decode(fluent_bit_value(""))
    assert empty.message == ""
    assert empty.level is Level.UNKNOWN
    assert empty.template_id is not None
    newline = decoder.decode(fluent_bit_value("\n"))
    assert newline.message == ""


def test_pathological_logfmt_and_access_lines_finish_quickly() -> None:
    messages = MessageParser()
    for line in (
        'a="' + "\\x" * 50_000,
        "k=v " * 30_000 + '"',
        '1.1.1.1 - - [x] "' + "\\" * 50_000,
        "[" * 50_000,
        "2026-11-22 12:00:00 " + "I" * 50_000,
    ):
        assert messages.parse(line).message  # returns at all (the test timeout guards time)


# --- shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kubernetes", "field"),
    [
        (None, "kubernetes: missing"),
        ("pod", "kubernetes: expected an object"),
        ({"pod_name": "a-0"}, "kubernetes.namespace_name: missing"),
        ({"namespace_name": "shop"}, "kubernetes.pod_name: missing"),
        ({"namespace_name": "shop", "pod_name": ""}, "kubernetes.pod_name: missing"),
        ({"namespace_name": 7, "pod_name": "a"}, "kubernetes.namespace_name: expected text"),
        ({"namespace_name": "shop", "pod_name": "p" * 254}, "kubernetes.pod_name: longer"),
        ({"namespace_name": ["x"], "pod_name": "a"}, "kubernetes.namespace_name: expected text"),
    ],
)
def test_missing_kubernetes_metadata_is_invalid_naming_the_field(
    decoder: RecordDecoder, kubernetes: object, field: str
) -> None:
    record = json.loads(fluent_bit_value("x"))
    if kubernetes is None:
        del record["kubernetes"]
    else:
        record["kubernetes"] = kubernetes
    error = dead_letter(decoder, json.dumps(record).encode())
    assert error.reason is DeadLetterReason.INVALID
    assert error.detail.startswith(field)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (None, "value: missing"),
        (b"[1, 2]", "value: expected a JSON object, got list"),
        (b'"text"', "value: expected a JSON object, got str"),
        (fluent_bit_value(None), "log: missing"),
        (fluent_bit_value(42), "log: expected text, got int"),
        (fluent_bit_value("x", **{"@timestamp": None, "time": None}), "@timestamp: missing"),
        (fluent_bit_value("x", **{"@timestamp": "soon", "time": None}), "@timestamp: not an ISO"),
    ],
)
def test_invalid_shapes_are_dead_lettered_with_the_field(
    decoder: RecordDecoder, value: bytes | None, detail: str
) -> None:
    error = dead_letter(decoder, value)
    assert error.reason is DeadLetterReason.INVALID
    assert error.detail.startswith(detail)


def test_unknown_format_header_is_invalid(decoder: RecordDecoder) -> None:
    error = dead_letter(decoder, b"{}", headers={"logsentinel-format": b"avro"})
    assert error.reason is DeadLetterReason.INVALID
    assert "logsentinel-format" in error.detail


def test_structured_log_field_is_accepted(decoder: RecordDecoder) -> None:
    record = decoder.decode(fluent_bit_value({"msg": "merged", "level": "warn", "n": 1}))
    assert (record.message, record.level, record.attributes) == ("merged", Level.WARN, {"n": 1})


def test_an_unexpected_error_is_dead_lettered_not_raised() -> None:
    class BrokenMiner(TemplateMiner):
        def match(self, message: str) -> Template:
            raise KeyError("a miner bug")

    decoder = RecordDecoder(miner=BrokenMiner(), clock=fixture_clock)
    error = dead_letter(decoder, fluent_bit_value("x"))
    assert error.reason is DeadLetterReason.DECODER_FAILURE
    assert error.reason.value == "decoder-failure"
    assert error.detail.startswith("KeyError: 'a miner bug'")
    # the cause in the pure modules; mypyc's compiled `raise ... from` keeps it as the context
    assert isinstance(error.__cause__ or error.__context__, KeyError)


def test_dead_letter_error_survives_pickling() -> None:
    import pickle

    error = DeadLetterError(DeadLetterReason.INVALID, "kubernetes.namespace_name: missing")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.detail) == (error.reason, error.detail)
    assert str(copy) == "invalid: kubernetes.namespace_name: missing"
