"""The usual Fluent Bit record is read from its bytes (EnvelopeReader.read_value); everything
else is left to the general reader, and both give the same envelope and the same record."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from logsentinel.parsing import DeadLetterError, RecordDecoder
from logsentinel.parsing.fluentbit import EnvelopeReader
from logsentinel.parsing.jsonio import loads
from support.parsing import KUBERNETES, fixture_clock, fluent_bit_value, load_fixture

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from logmix import fluent_bit_values  # the benchmarks' realistic mix

RECORDS: list[dict[str, Any]] = load_fixture("fluent-bit/records.yaml")
USUAL = [
    *(case["value"].encode() for case in RECORDS),
    *fluent_bit_values(3000, seed=11),
    # checked as the general reader checks them: a stream that is neither, a label dropped
    fluent_bit_value("x", stream="console"),
    fluent_bit_value("x", kubernetes={**KUBERNETES, "labels": {"app.kubernetes.io/name": 7}}),
]


def general_envelope(value: bytes) -> Any:
    return EnvelopeReader().read(loads(value), False)


def test_usual_records_are_read_from_their_bytes_as_the_general_reader_reads_them() -> None:
    reader = EnvelopeReader()
    read = 0
    for value in USUAL:
        envelope = reader.read_value(value)
        if envelope is None:
            continue
        read += 1
        assert envelope == general_envelope(value), value[:200]
    # the shapes our Fluent Bit writes (text lines, ISO @timestamp) take the short way
    assert read >= len(USUAL) * 0.95, f"only {read} of {len(USUAL)} read from their bytes"


OTHER_SHAPES = {
    "log is an object": fluent_bit_value({"msg": "structured", "level": "info"}),
    "@timestamp as epoch seconds": fluent_bit_value("x", **{"@timestamp": 1795348800.25}),
    "@timestamp missing, cri time": fluent_bit_value(
        "x", **{"@timestamp": None, "time": "2026-11-22T12:00:07.5Z"}
    ),
    "@timestamp not a time": fluent_bit_value("x", **{"@timestamp": "yesterday"}),
    "no log": fluent_bit_value(None),
    "stream is a number": fluent_bit_value("x", stream=1),
    "no kubernetes": fluent_bit_value("x", kubernetes=None),
    "kubernetes is a list": fluent_bit_value("x", kubernetes=["shop"]),
    "no pod name": fluent_bit_value("x", kubernetes={**KUBERNETES, "pod_name": ""}),
    "not an object": b'["log", "x"]',
    "not JSON": b'{"log": "x"',
    "invalid UTF-8": fluent_bit_value("caf\u00e9").replace(b"\\u00e9", b"\xff"),
    "nested past the parser's limit": fluent_bit_value("x")[:-1]
    + b', "deep": '
    + b"[" * 5000
    + b"]" * 5000
    + b"}",
}


@pytest.mark.parametrize("value", OTHER_SHAPES.values(), ids=list(OTHER_SHAPES))
def test_other_shapes_are_left_to_the_general_reader(value: bytes) -> None:
    assert EnvelopeReader().read_value(value) is None


def refused_by_the_shape(value: bytes) -> bytes:
    """The same document with a field the shape refuses and the general reader does not read:
    a ``message`` that is not text, beside the line in ``log``."""
    document = loads(value)
    document["message"] = 0
    return json.dumps(document, ensure_ascii=False).encode()


WITH_LOG = [value for value in USUAL if isinstance(loads(value).get("log"), str)]
"""The usual values whose line is in ``log`` (refused_by_the_shape needs ``message`` free)."""


def outcome(value: bytes) -> object:
    """A fresh decoder's record for value, or its dead letter's reason and detail."""
    try:
        return RecordDecoder(clock=fixture_clock).decode(value)
    except DeadLetterError as error:
        return (error.reason, error.detail)


@pytest.mark.parametrize("value", WITH_LOG[:400])
def test_the_decoder_answers_as_it_does_the_general_way(value: bytes) -> None:
    general = refused_by_the_shape(value)
    assert EnvelopeReader().read_value(general) is None
    assert outcome(value) == outcome(general)


def test_a_pod_whose_labels_change_is_read_again() -> None:
    reader = EnvelopeReader()
    before = reader.read_value(fluent_bit_value("x"))
    again = reader.read_value(fluent_bit_value("y"))
    relabelled = {**KUBERNETES, "labels": {"app.kubernetes.io/name": "checkout-v2"}}
    after = reader.read_value(fluent_bit_value("z", kubernetes=relabelled))
    assert before is not None
    assert again is not None
    assert after is not None
    assert again.pod is before.pod  # the same metadata bytes: the checked pod is reused
    assert after.pod.service == "checkout-v2"
