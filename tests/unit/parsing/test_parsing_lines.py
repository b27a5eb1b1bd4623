"""Message formats (tests/fixtures/lines/lines.yaml) and custom parsers."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from logsentinel.domain import Level
from logsentinel.domain.pipeline import CustomParser
from logsentinel.parsing import MessageParser, RecordDecoder
from logsentinel.parsing.custom import load_parsers
from support.parsing import fixture_clock, fluent_bit_value, load_fixture

LINES: list[dict[str, Any]] = load_fixture("lines/lines.yaml")


@pytest.mark.parametrize("case", LINES, ids=[case["name"] for case in LINES])
def test_line_parses_to_expected_fields(case: dict[str, Any]) -> None:
    parsed = MessageParser().parse(case["line"])
    expect = case["expect"]
    assert parsed.format == expect["format"]
    if "level" in expect:
        assert parsed.level == (Level(expect["level"]) if expect["level"] else None)
    if "message" in expect:
        assert parsed.message == expect["message"]
    if "timestamp" in expect:
        expected_time = expect["timestamp"]
        assert parsed.timestamp == (
            datetime.fromisoformat(expected_time) if expected_time else None
        )
    if "trace_id" in expect:
        assert parsed.trace_id == expect["trace_id"]
    for key, value in expect.get("attributes", {}).items():
        assert parsed.attributes.get(key) == value, key
    if expect.get("attributes") == {}:
        assert parsed.attributes == {}


def test_well_known_fields_leave_the_attributes() -> None:
    parsed = MessageParser().parse(
        '{"msg":"m","level":"info","trace_id":"t1","time":"2026-11-22T12:00:00Z","k":1}'
    )
    assert parsed.attributes == {"k": 1}


def test_unrecognised_level_value_stays_an_attribute() -> None:
    parsed = MessageParser().parse('{"msg":"m","level":"chatty"}')
    assert parsed.level is None
    assert parsed.attributes == {"level": "chatty"}


def test_nginx_request_time_is_converted_from_seconds_to_milliseconds() -> None:
    line = '1.2.3.4 - - [22/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1.234'
    assert MessageParser().parse(line).attributes["request_time_ms"] == 1234.0


def test_access_log_template_ignores_client_details_but_not_the_status_class() -> None:
    decoder = RecordDecoder()
    line = '{ip} - {user} [22/Nov/2026:12:00:0{n} +0000] "GET /api/orders/{n} HTTP/1.1" {status} 9 "-" "{agent}"'
    ids: dict[int, set[str]] = {200: set(), 500: set()}
    for n in range(10):  # interleaved, so Drain sees both classes repeatedly
        for status in (200, 500):
            value = line.format(
                ip=f"10.0.0.{n}",
                user="-" if n % 2 else "bob",
                n=n,
                status=status,
                agent=f"agent/{n}",
            )
            ids[status].add(decoder.decode(fluent_bit_value(value)).template_id or "")
    assert len(ids[200]) == 1
    assert len(ids[500]) == 1
    assert ids[200] != ids[500]


def test_stack_trace_frames_do_not_change_the_template() -> None:
    decoder = RecordDecoder()
    trace = (
        "java.lang.IllegalStateException: closed\n\tat a.B.c(B.java:{line})\n\tat a.D.e(D.java:9)"
    )
    first = decoder.decode(fluent_bit_value(trace.format(line=1)))
    second = decoder.decode(fluent_bit_value(trace.format(line=250) + "\n\tat x.Y.z(Y.java:3)"))
    assert first.template_id == second.template_id
    assert first.message.count("\n") == 2  # the trace stays one record


def test_custom_parser_runs_first_and_fills_fields() -> None:
    parser = CustomParser(
        name="payments",
        regex=r"^PAY (?P<level>\w+) id=(?P<payment_id>\d+) amount=(?P<amount>[\d.]+) (?P<msg>.*)$",
    )
    parsed = MessageParser([parser]).parse("PAY ERROR id=77 amount=12.50 card declined")
    assert parsed.format == "custom:payments"
    assert parsed.level is Level.ERROR
    assert parsed.message == "card declined"
    assert parsed.attributes == {"payment_id": 77, "amount": 12.5}


def test_custom_parser_applies_only_to_its_services() -> None:
    parser = CustomParser(name="only-billing", regex=r"^(?P<code>E\d+) ", services=["billing"])
    messages = MessageParser([parser])
    assert messages.parse("E42 boom", service="billing").attributes == {"code": "E42"}
    assert messages.parse("E42 boom", service="checkout").format == "plain"


def test_custom_parser_without_a_match_falls_back_to_built_in_formats() -> None:
    parser = CustomParser(name="never", regex=r"^NEVER (?P<x>\d+)$")
    assert MessageParser([parser]).parse('{"msg":"json"}').format == "json"


def test_custom_parser_sees_a_bounded_window_of_long_lines() -> None:
    parser = CustomParser(name="tail-marker", regex=r"(?P<marker>MARK)$")
    line = "x" * 20_000 + "MARK"
    assert MessageParser([parser]).parse(line).format == "plain"


def test_decoder_uses_custom_parsers_for_the_records_service() -> None:
    parser = CustomParser(name="co", regex=r"^(?P<step>step-\d+) ", services=["checkout"])
    decoder = RecordDecoder(custom_parsers=[parser], clock=fixture_clock)
    record = decoder.decode(fluent_bit_value("step-3 done"))
    assert record.attributes == {"step": "step-3"}


def test_catastrophic_custom_regex_runs_in_linear_time() -> None:
    parser = CustomParser(name="evil", regex=r"^(?P<x>(a+)+)$")
    started = time.perf_counter()
    parsed = MessageParser([parser]).parse("a" * 5000 + "b")
    assert parsed.format == "plain"
    assert time.perf_counter() - started < 1.0


def test_custom_parsers_take_re2_named_groups_and_refuse_lookaround() -> None:
    both_spellings = CustomParser(name="login", regex=r"user=(?P<user>\w+) id=(?<id>\d+)")
    parsed = MessageParser([both_spellings]).parse("login user=alice id=7")
    assert parsed.attributes == {"user": "alice", "id": 7}
    with pytest.raises(ValidationError, match="RE2 does not support lookbehind"):
        CustomParser(name="look", regex=r"(?<=user=)(?P<user>\w+)")


def test_load_parsers_keeps_the_valid_entries_and_says_why_others_were_refused() -> None:
    parsers, problems = load_parsers(
        [
            {"name": "ahead", "regex": r"(?P<x>a)(?=b)"},
            {"name": "ok", "regex": r"(?P<x>a)"},
            {"name": "unnamed", "regex": r"a"},
        ]
    )
    assert [parser.name for parser in parsers] == ["ok"]
    assert [problem.split(":")[0] for problem in problems] == ["[0].regex", "[2].regex"]
    assert "RE2 does not support lookahead" in problems[0]
    assert "named group" in problems[1]
    assert load_parsers(None) == ([], [])
    assert load_parsers({"name": "x"}) == ([], ["expected a list of custom parsers, got dict"])
