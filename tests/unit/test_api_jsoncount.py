"""Counting an ingest body's records and JSON values as it streams in: exact wherever the body is
valid JSON, however it is cut into chunks, and stopping at the limit."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from logsentinel.api.jsoncount import BodyCounter, OverLimitError

UNLIMITED = 10**12


def record(n: int) -> dict[str, Any]:
    return {
        "timestamp": "2026-11-30T08:00:00Z",
        "message": f'GET /a,b/[{n}] {{"x": ",,,"}} said "hi", \\ then \\"quoted\\"',
        "service": "checkout",
        "labels": {"app": "checkout", "tier": "[web]"},
        "attributes": {"path": ["/a", {"deep": [1, 2, {"deeper": "},]"}]}], "n": n},
    }


def values(document: Any) -> int:
    """How many JSON values parsing builds (an object or array counts as one, and so does each
    value in it)."""
    if isinstance(document, dict):
        return 1 + sum(values(v) for v in document.values())
    if isinstance(document, list):
        return 1 + sum(values(v) for v in document)
    return 1


def separators(document: Any) -> int:
    """Commas and openings outside strings in the JSON text of a document."""
    if isinstance(document, dict | list):
        members = list(document.values() if isinstance(document, dict) else document)
        return 1 + max(len(members) - 1, 0) + sum(separators(m) for m in members)
    return 0


def chunks(body: bytes, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    position = 0
    while position < len(body):
        size = rng.choice([1, 2, 3, 7, 64, 1000])
        yield body[position : position + size]
        position += size


def count(body: bytes, seed: int | None = None, **limits: int) -> BodyCounter:
    counter = BodyCounter(limits.get("records", UNLIMITED), limits.get("values", UNLIMITED))
    for chunk in [body] if seed is None else chunks(body, seed):
        counter.feed(chunk)
    return counter


ARRAY = orjson.dumps([record(n) for n in range(30)], option=orjson.OPT_INDENT_2)
NDJSON = b"\n".join(orjson.dumps(record(n)) for n in range(30)) + b"\n"
# values as counted: every record, comma and opening outside strings
ARRAY_VALUES = separators([record(n) for n in range(30)]) + 30
NDJSON_VALUES = sum(separators(record(n)) for n in range(30)) + 30


@pytest.mark.parametrize(
    ("body", "counted"), [(ARRAY, ARRAY_VALUES), (NDJSON, NDJSON_VALUES)], ids=["array", "ndjson"]
)
@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5])
def test_the_limits_are_exact_however_the_body_is_cut(
    body: bytes, counted: int, seed: int | None
) -> None:
    # strings full of commas and brackets push the cheap bound over, so this counts exactly
    count(body, seed, records=30)
    with pytest.raises(OverLimitError, match="more than 29 records; at most 29 per request"):
        count(body, seed, records=29)
    assert counted >= sum(values(record(n)) for n in range(30)), "an upper bound of the values"
    count(body, seed, values=counted)
    with pytest.raises(OverLimitError, match=f"more than {counted - 1} JSON values"):
        count(body, seed, values=counted - 1)


def test_values_count_every_record_comma_and_opening_outside_strings() -> None:
    body = b'[{"a": [1, 2, {"b": "x,[{"}], "c": "\\"],"}, 3]'
    assert values(orjson.loads(body)) == 9
    # outside strings: 4 commas, 4 openings, 2 records (the bound, 19, counts the strings too)
    count(body, values=10)
    with pytest.raises(OverLimitError, match="more than 9 JSON values"):
        count(body, values=9)


def test_blank_lines_are_not_records_and_cost_nothing() -> None:
    counter = count(b"\n \n\t\r\n" * 1_000_000 + b'{"a": 1}\n\n', records=1)
    assert counter.records == 1
    with pytest.raises(OverLimitError):
        count(b'{"a": 1}\n  \n{"b": 2}', records=1)


def test_a_tiny_element_flood_stops_at_the_limit() -> None:
    counter = BodyCounter(10_000, UNLIMITED)
    flood = b"[" + b"{}," * 100_000
    with pytest.raises(OverLimitError, match="more than 10000 records"):
        counter.feed(flood[: 256 * 1024])  # one chunk of the inflated body
    assert counter.records == 10_001, "counting stopped as soon as the limit was passed"


def test_a_nested_flood_inside_one_record_is_over_the_values_limit() -> None:
    bomb = b'{"message": "m", "attributes": {"x": [' + b"{}," * 100_000 + b"{}]}}\n"
    with pytest.raises(OverLimitError, match="JSON values"):
        count(bomb, records=1, values=50_000)


def test_an_unterminated_string_cannot_hide_the_lines_after_it() -> None:
    # NDJSON lines stand alone: a stray quote on one line does not swallow the next ones
    body = b'{"message": "no end\n' + b"[" + b"[]," * 1000 + b"[]]\n"
    with pytest.raises(OverLimitError, match="JSON values"):
        count(body, values=500)
    for seed in range(5):
        with pytest.raises(OverLimitError, match="JSON values"):
            count(body, seed, values=500)


def test_escapes_and_strings_cut_between_chunks() -> None:
    body = b'["a\\\\,", "b\\",[", "c\\\\\\",d", "e"]'
    assert len(orjson.loads(body)) == 4
    for cut in range(1, len(body)):
        for limit, over in ((4, False), (3, True)):
            counter = BodyCounter(limit, UNLIMITED)
            try:
                counter.feed(body[:cut])
                counter.feed(body[cut:])
            except OverLimitError:
                assert over, f"cut at {cut}: counted {counter.records} records"
            else:
                assert not over, f"cut at {cut}: counted {counter.records} records"
