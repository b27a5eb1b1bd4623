"""Durations, quantities and regexes: parsing, canonical text and the errors they give."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from logsentinel.domain.regex import RegexError, compile_regex
from logsentinel.domain.types import (
    Duration,
    Quantity,
    Regex,
    StorableText,
    flag,
    format_duration,
    parse_duration,
    quantity_value,
)


class Holder(BaseModel):
    duration: Duration | None = None
    quantity: Quantity | None = None
    regex: Regex | None = None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("2d", timedelta(days=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "-5m", "5m ", "1.5h", "5 m", "h1"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["90s", "1h30m", "250ms", "1d2h3m4s5ms"])
def test_duration_text_round_trips(text: str) -> None:
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_format_duration_is_canonical() -> None:
    assert format_duration(timedelta(seconds=90)) == "1m30s"
    assert format_duration(timedelta(0)) == "0s"


def test_duration_field_serialises_as_text_and_bounds() -> None:
    assert Holder(duration="90s").model_dump(mode="json")["duration"] == "1m30s"
    with pytest.raises(ValidationError, match="positive"):
        Holder(duration="0s")
    with pytest.raises(ValidationError, match="at most"):
        Holder(duration="400d")
    with pytest.raises(ValidationError, match="duration string"):
        Holder(duration=30)
    with pytest.raises(ValidationError, match="too long"):
        Holder(duration="10000000000000m")  # beyond timedelta: a validation error, not a crash


@pytest.mark.parametrize(
    ("text", "value"),
    [("1Gi", 2**30), ("500m", 0.5), ("2", 2), ("1.5k", 1500), ("128Mi", 128 * 2**20)],
)
def test_quantity_value(text: str, value: float) -> None:
    assert quantity_value(text) == pytest.approx(value)


def test_quantity_field_accepts_int_or_string_only() -> None:
    assert Holder(quantity=4).quantity == "4"
    for bad in ("1 Gi", "Gi", "1GB", True, 1.5):
        with pytest.raises(ValidationError, match="quantity"):
            Holder(quantity=bad)


def test_regex_must_compile_and_be_bounded() -> None:
    assert Holder(regex=r"timeout after \d+ms").regex
    with pytest.raises(ValidationError, match="invalid regular expression"):
        Holder(regex="[a-")
    with pytest.raises(ValidationError, match="too large"):
        Holder(regex=r"\pL{1000}")  # beyond RE2's memory budget for one pattern
    with pytest.raises(ValidationError, match="at most 1024"):
        Holder(regex="a" * 1025)
    with pytest.raises(ValidationError, match="at least 1"):
        Holder(regex="")


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"a(?=b)", "lookahead"),
        (r"a(?!b)", "lookahead"),
        (r"(?<=a)b", "lookbehind"),
        (r"(?<!a)b", "lookbehind"),
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "backreferences"),
        (r"(?>a+)b", "atomic groups"),
        (r"a++", "possessive quantifiers"),
    ],
)
def test_regex_is_re2_only_and_says_which_construct_it_lacks(pattern: str, construct: str) -> None:
    with pytest.raises(ValidationError, match=f"RE2 does not support {construct}"):
        Holder(regex=pattern)
    with pytest.raises(RegexError, match=f"RE2 does not support {construct}"):
        compile_regex(pattern)


def test_re2_patterns_match_across_lines_and_keep_named_groups() -> None:
    pattern = compile_regex(r"panic: (?P<what>.+) at")
    found = pattern.search("panic: nil map\nwrite at main.go:12")
    assert found is not None
    assert found.groupdict() == {"what": "nil map\nwrite"}
    assert compile_regex(r"(?<id>\d+)").groupindex == {"id": 1}
    with pytest.raises(RegexError, match=r"write \\z for the end"):
        compile_regex(r"end\Z")


def test_storable_text_refuses_nul_and_says_so_in_its_schema() -> None:
    class Note(BaseModel):
        text: StorableText

    assert Note(text="fine \u00e9").text == "fine \u00e9"
    with pytest.raises(ValidationError, match="NUL"):
        Note(text="a\x00b")
    assert Note.model_json_schema()["properties"]["text"]["pattern"] == r"^[^\x00]*$"


@pytest.mark.parametrize(
    ("text", "meaning"),
    [("true", True), (" Yes ", True), ("1", True), ("FALSE", False), ("no", False),
     ("0", False), ("", None), ("maybe", None), ("2", None)],
)  # fmt: skip
def test_flags_read_yes_and_no_words_and_nothing_else(text: str, meaning: bool | None) -> None:
    assert flag(text) is meaning
