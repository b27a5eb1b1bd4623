"""Reading an ingest body: which lines become records, and what each refused line is told."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from logsentinel.api.ingest import NOT_AN_OBJECT, BadBodyError, Parsed, parse
from logsentinel.domain.recordshape import LogRecordShape, plainly_nested


def line(n: int, **changes: Any) -> str:
    document = {
        "timestamp": "2026-11-30T08:00:00+01:00",
        "message": f"record {n}",
        "service": "checkout",
    }
    document.update(changes)
    return json.dumps(document)


def shape_accepts(raw: bytes) -> bool:
    try:
        msgspec.json.decode(raw, type=LogRecordShape)
    except msgspec.MsgspecError:
        return False
    return True


def messages(parsed: Parsed) -> list[str]:
    return [json.loads(payload)["message"] for _, payload in parsed.valid]


def test_every_valid_line_becomes_a_record_in_order_with_its_own_bytes() -> None:
    lines = [line(n) for n in range(5)]
    parsed = parse(("\n".join(lines) + "\n").encode())
    assert parsed.rejected == []
    assert messages(parsed) == [f"record {n}" for n in range(5)]
    assert [payload for _, payload in parsed.valid] == [text.encode() for text in lines]
    assert {key for key, _ in parsed.valid} == {b"/checkout"}, "namespace/service, for Kafka"


def test_two_records_on_one_line_are_refused_as_one_bad_line() -> None:
    body = "\n".join([line(1), line(2) + "," + line(3), line(4)]).encode()
    parsed = parse(body)
    assert messages(parsed) == ["record 1", "record 4"]
    assert [r.line for r in parsed.rejected] == [2]
    assert "not valid JSON" in parsed.rejected[0].error


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("[1, 2]", NOT_AN_OBJECT),
        ("{oops", "not valid JSON"),
        (line(9, service=""), "service"),
        (line(9, level="loud"), "level"),
        (line(9, source={"topic": "t", "partition": 0, "offset": 1}), "source: set by"),
    ],
)
def test_a_bad_line_is_named_and_does_not_stop_the_others(bad: str, says: str) -> None:
    parsed = parse("\n".join([line(1), bad, "", line(3)]).encode())
    assert messages(parsed) == ["record 1", "record 3"]
    assert [r.line for r in parsed.rejected] == [2]
    assert says in parsed.rejected[0].error


def test_a_json_array_counts_positions_and_an_unreadable_one_is_refused_whole() -> None:
    parsed = parse(f"[{line(1)}, 5, {line(3, service='')}]".encode())
    assert messages(parsed) == ["record 1"]
    assert [r.line for r in parsed.rejected] == [2, 3]
    assert parsed.rejected[0].error == NOT_AN_OBJECT
    assert "service" in parsed.rejected[1].error
    with pytest.raises(BadBodyError, match="not valid JSON"):
        parse(b"[{")


def test_a_body_of_mostly_blank_lines_keeps_its_line_numbers() -> None:
    blank = "\n \t\r" * 60_000  # over the count past which blank lines are passed over
    parsed = parse(f"{line(1)}{blank}\n{line(2)}\n{blank}{line(3, service='')}".encode())
    assert messages(parsed) == ["record 1", "record 2"]
    assert [r.line for r in parsed.rejected] == [120_003]
    assert parsed.valid[1][1] == line(2).encode()
    few = parse(f"{line(1)}\n\n  \n{line(2)}\n".encode())
    assert [payload for _, payload in few.valid] == [line(1).encode(), line(2).encode()]


@pytest.mark.parametrize(
    "document",
    [
        line(1, template_id="t-1"),  # a field under its Python name: LogRecord takes both
        line(1, timestamp=1796198400),  # seconds since the epoch
        line(1, timestamp="2026-11-30T08:00+01:00"),  # no seconds
        line(1, namespace="shop", attributes={"deep": json.loads("[" * 150 + "]" * 150)}),
    ],
)
def test_what_the_fast_check_leaves_out_is_judged_by_logrecord(document: str) -> None:
    raw = document.encode()
    # the nesting guard or the shape leaves it to LogRecord...
    assert not plainly_nested(raw) or not shape_accepts(raw)
    parsed = parse(f"{line(0)}\n{document}\n".encode())  # ...which accepts it
    assert parsed.rejected == []
    assert [payload for _, payload in parsed.valid] == [line(0).encode(), document.encode()]
    assert parsed.valid[1][0] == json.loads(document).get("namespace", "").encode() + b"/checkout"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (line(1, timestamp="0001-01-01T00:00:00+01:00"), "years 1 to 9999"),
        (line(1, attributes={"deep": json.loads("[" * 250 + "]" * 250)}), "recursion limit"),
        (line(1, labels={"app": "x" * 64}), "labels.app"),
        (line(1, extra=1), "extra"),
    ],
)
def test_what_logrecord_refuses_is_refused_with_its_reason(document: str, says: str) -> None:
    parsed = parse(f"{line(0)}\n{document}\n".encode())
    assert messages(parsed) == ["record 0"]
    assert [r.line for r in parsed.rejected] == [2]
    assert says in parsed.rejected[0].error


def test_an_array_element_goes_on_exactly_as_it_was_sent() -> None:
    spaced = '{ "timestamp" : "2026-11-30T08:00:00Z",\n "message": "a", "service": "s" }'
    parsed = parse(f"[ {spaced} ,{line(2)}]".encode())
    assert [payload for _, payload in parsed.valid] == [spaced.encode(), line(2).encode()]
