"""Reading an ingest body: which lines become records, and what each refused line is told."""

from __future__ import annotations

import json
from typing import Any

import pytest

from logsentinel.api.ingest import NOT_AN_OBJECT, BadBodyError, parse


def line(n: int, **changes: Any) -> str:
    document = {
        "timestamp": "2026-11-30T08:00:00+01:00",
        "message": f"record {n}",
        "service": "checkout",
    }
    document.update(changes)
    return json.dumps(document)


def test_every_valid_line_becomes_a_record_in_order_with_its_own_bytes() -> None:
    lines = [line(n) for n in range(5)]
    parsed = parse(("\n".join(lines) + "\n").encode())
    assert parsed.rejected == []
    assert [v.record.message for v in parsed.valid] == [f"record {n}" for n in range(5)]
    assert [v.payload for v in parsed.valid] == [text.encode() for text in lines]
    assert parsed.valid[0].record.timestamp.utcoffset() is not None
    assert parsed.valid[0].record.timestamp.hour == 7, "normalised to UTC"


def test_two_records_on_one_line_are_refused_as_one_bad_line() -> None:
    body = "\n".join([line(1), line(2) + "," + line(3), line(4)]).encode()
    parsed = parse(body)
    assert [v.record.message for v in parsed.valid] == ["record 1", "record 4"]
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
    assert [v.record.message for v in parsed.valid] == ["record 1", "record 3"]
    assert [r.line for r in parsed.rejected] == [2]
    assert says in parsed.rejected[0].error


def test_a_json_array_counts_positions_and_an_unreadable_one_is_refused_whole() -> None:
    parsed = parse(f"[{line(1)}, 5, {line(3, service='')}]".encode())
    assert [v.record.message for v in parsed.valid] == ["record 1"]
    assert [r.line for r in parsed.rejected] == [2, 3]
    assert parsed.rejected[0].error == NOT_AN_OBJECT
    assert "service" in parsed.rejected[1].error
    with pytest.raises(BadBodyError, match="not valid JSON"):
        parse(b"[{")


def test_a_body_of_mostly_blank_lines_keeps_its_line_numbers() -> None:
    blank = "\n \t\r" * 60_000  # over the count past which blank lines are passed over
    parsed = parse(f"{line(1)}{blank}\n{line(2)}\n{blank}{line(3, service='')}".encode())
    assert [v.record.message for v in parsed.valid] == ["record 1", "record 2"]
    assert [r.line for r in parsed.rejected] == [120_003]
    assert parsed.valid[1].payload == line(2).encode()
    few = parse(f"{line(1)}\n\n  \n{line(2)}\n".encode())
    assert [v.payload for v in few.valid] == [line(1).encode(), line(2).encode()]
