"""The event-time rule: which time a record may carry, what replaces one that is refused, and
how the record says so (the window in the domain, its use in the decoder and the settings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from logsentinel.domain.logrecord import (
    ORIGINAL_TIME_ATTRIBUTE,
    TIME_REPLACED_ATTRIBUTE,
    EventTimeWindow,
    LogRecord,
)
from logsentinel.parsing import RecordDecoder
from logsentinel.parsing.decoder import FORMAT_HEADER, LOGRECORD_FORMAT
from logsentinel.processors.settings import ProcessorSettings
from support.parsing import fluent_bit_value

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
WINDOW = EventTimeWindow(max_age=timedelta(days=7), max_lead=timedelta(minutes=10))
COLLECTED = NOW - timedelta(seconds=2)
INGEST = {FORMAT_HEADER: LOGRECORD_FORMAT}


def decoder() -> RecordDecoder:
    return RecordDecoder(event_time=WINDOW, clock=lambda: NOW)


def line(**fields: Any) -> bytes:
    """A Fluent Bit record collected at COLLECTED whose log line is the JSON of fields."""
    stamp = COLLECTED.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return fluent_bit_value(json.dumps(fields), **{"@timestamp": stamp, "time": stamp})


def ingested(timestamp: object) -> bytes:
    return json.dumps({"timestamp": timestamp, "message": "m", "service": "api"}).encode()


# --- the window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "refused"),
    [
        (NOW, None),
        (NOW - timedelta(days=7), None),
        (NOW - timedelta(days=7, microseconds=1), "more than 7d old when received"),
        (NOW + timedelta(minutes=10), None),
        (NOW + timedelta(minutes=10, microseconds=1), "more than 10m after it arrived"),
        (datetime(1970, 1, 1, 0, 0, 0, 250000, tzinfo=UTC), "more than 7d old when received"),
        (datetime(2199, 6, 1, tzinfo=UTC), "more than 10m after it arrived"),
    ],
)
def test_the_window_accepts_max_age_back_and_max_lead_ahead(
    moment: datetime, refused: str | None
) -> None:
    assert WINDOW.refusal(moment, NOW, NOW) == refused


def test_the_lead_counts_from_the_arrival_and_the_age_from_the_receivers_clock() -> None:
    arrival = NOW - timedelta(days=2)  # a backlog: produced two days ago, read now
    assert WINDOW.refusal(arrival + timedelta(minutes=11), arrival, NOW) is not None
    assert WINDOW.refusal(NOW - timedelta(days=6), arrival, NOW) is None
    assert WINDOW.refusal(NOW - timedelta(days=8), arrival, NOW) is not None


@pytest.mark.parametrize(
    ("reported", "believed"),
    [
        (None, NOW),
        (NOW - timedelta(hours=3), NOW - timedelta(hours=3)),
        (NOW + timedelta(seconds=1), NOW),  # a producer clock ahead of ours
        (NOW - timedelta(days=8), NOW),  # older than the window: not a real arrival
        (datetime(2199, 1, 1, tzinfo=UTC), NOW),
    ],
)
def test_an_arrival_time_is_believed_only_inside_the_window(
    reported: datetime | None, believed: datetime
) -> None:
    assert WINDOW.arrival(reported, NOW) == believed


def test_the_days_to_prepare_cover_the_window_and_tomorrow() -> None:
    days = WINDOW.days(NOW)
    assert days[0] == (NOW - timedelta(days=7)).date()
    assert days[-1] == (NOW + timedelta(days=1)).date()
    assert len(days) == 9
    before_midnight = datetime(2026, 12, 4, 23, 55, tzinfo=UTC)
    assert WINDOW.days(before_midnight)[-1].isoformat() == "2026-12-06"


MILLIS_NEAR_NOW = st.integers(
    int((NOW - timedelta(days=9)).timestamp() * 1000),
    int((NOW + timedelta(days=1)).timestamp() * 1000),
)


@given(st.one_of(MILLIS_NEAR_NOW, st.integers(1, 2**62)))
def test_a_kafka_timestamp_in_milliseconds_is_judged_like_the_datetime_it_stands_for(
    millis: int,
) -> None:
    try:
        reported: datetime | None = datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        reported = None
    assert WINDOW.at(NOW).arrival_at_millis(millis) == WINDOW.arrival(reported, NOW)


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(NOW.replace(tzinfo=None) - timedelta(days=8), NOW.replace(tzinfo=None)),
)
def test_the_fast_acceptance_check_agrees_with_the_refusal(
    moment: datetime, arrival: datetime
) -> None:
    arrival = arrival.replace(tzinfo=UTC)
    bounds = WINDOW.at(NOW)
    assert bounds.accepts(moment, arrival) == (bounds.refusal(moment, arrival) is None)


def test_a_batch_reads_the_clock_once_and_shares_its_bounds() -> None:
    readings: list[datetime] = []

    def clock() -> datetime:
        readings.append(NOW)
        return NOW

    decoding = RecordDecoder(event_time=WINDOW, clock=clock)
    bounds = decoding.time_bounds()
    for message in ("one", "two", "three"):
        decoding.decode(line(msg=message), now=bounds.now)
    assert len(readings) == 1
    assert decoding.time_bounds(NOW) is bounds
    decoding.decode(line(msg="alone"))  # no now given: the decoder's clock, read for the record
    assert len(readings) == 2


@pytest.mark.parametrize("window", [{"max_age": timedelta(0)}, {"max_lead": timedelta(seconds=-1)}])
def test_a_window_needs_a_positive_age_and_a_lead_not_negative(window: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="max_age"):
        EventTimeWindow(**window)


# --- records from Fluent Bit ---------------------------------------------------------------


def test_a_time_inside_the_window_is_kept_unmarked() -> None:
    record = decoder().decode(line(time="2026-12-04T11:00:00Z", msg="ok"))
    assert record.timestamp == datetime(2026, 12, 4, 11, tzinfo=UTC)
    assert ORIGINAL_TIME_ATTRIBUTE not in record.attributes


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        (0.25, "more than 7d old when received"),
        ("0.25", "more than 7d old when received"),
        ("2199-06-01T00:00:00Z", "more than 10m after it arrived"),
        ("2999-01-01T00:00:00Z", "more than 10m after it arrived"),
        ("0001-01-01T00:00:00Z", "more than 7d old when received"),
    ],
)
def test_an_absurd_application_time_gives_way_to_the_collectors(
    written: object, reason: str
) -> None:
    record = decoder().decode(line(time=written, msg="m"))
    assert record.timestamp == COLLECTED
    assert record.attributes[ORIGINAL_TIME_ATTRIBUTE] == written
    assert record.attributes[TIME_REPLACED_ATTRIBUTE] == f"{reason}; stored at the collector's time"
    assert "time" not in record.attributes


def test_an_absurd_collector_time_gives_way_to_the_kafka_arrival() -> None:
    value = fluent_bit_value("m", **{"@timestamp": "2199-06-01T00:00:00Z", "time": None})
    arrival = NOW - timedelta(minutes=3)
    record = decoder().decode(value, arrival=arrival)
    assert record.timestamp == arrival
    assert record.attributes[ORIGINAL_TIME_ATTRIBUTE] == "2199-06-01T00:00:00Z"
    assert record.attributes[TIME_REPLACED_ATTRIBUTE].endswith("stored at its arrival time")


def test_both_times_absurd_and_a_kafka_timestamp_in_the_future_give_the_receivers_clock() -> None:
    value = fluent_bit_value(
        json.dumps({"time": 0.25, "msg": "m"}), **{"@timestamp": 0.5, "time": None}
    )
    record = decoder().decode(value, arrival=datetime(2199, 1, 1, tzinfo=UTC))
    assert record.timestamp == NOW
    assert record.attributes[ORIGINAL_TIME_ATTRIBUTE] == 0.25, "the application's, first"


@given(st.datetimes(timezones=st.just(UTC)))
def test_every_stored_time_lies_inside_the_window_so_partitions_stay_bounded(
    written: datetime,
) -> None:
    record = decoder().decode(line(time=written.isoformat(), msg="m"))
    assert NOW - WINDOW.max_age <= record.timestamp <= NOW + WINDOW.max_lead
    assert record.timestamp.date() in WINDOW.days(NOW)


# --- records from the ingest API ------------------------------------------------------------


@pytest.mark.parametrize("written", ["2999-01-01T00:00:00Z", 0.25])
def test_an_ingest_record_outside_the_window_is_stored_at_its_arrival(written: object) -> None:
    arrival = NOW - timedelta(seconds=1)
    record = decoder().decode(ingested(written), INGEST, arrival=arrival)
    assert record.timestamp == arrival
    assert record.attributes[ORIGINAL_TIME_ATTRIBUTE] == written
    assert "stored at its arrival time" in str(record.attributes[TIME_REPLACED_ATTRIBUTE])
    LogRecord.model_validate(record.model_dump())  # still a valid record


def test_local_ingest_normalises_against_the_request_time() -> None:
    sent = LogRecord(
        timestamp=datetime(2999, 1, 1, tzinfo=UTC), message="m", service="api", attributes={"a": 1}
    )
    record = decoder().normalise(sent)
    assert record.timestamp == NOW
    assert record.attributes == {
        "a": 1,
        ORIGINAL_TIME_ATTRIBUTE: "2999-01-01T00:00:00Z",
        TIME_REPLACED_ATTRIBUTE: "more than 10m after it arrived; stored at its arrival time",
    }
    assert sent.attributes == {"a": 1}, "the input is not modified"
    fine = sent.model_copy(update={"timestamp": NOW - timedelta(hours=1)})
    assert decoder().normalise(fine).timestamp == NOW - timedelta(hours=1)


# --- processor settings ----------------------------------------------------------------------


def test_the_processors_window_defaults_to_retention_and_may_not_exceed_it() -> None:
    base = {"database_url": "postgresql://x", "kafka_bootstrap": "k:9092"}
    settings = ProcessorSettings(**base, retention=timedelta(days=3))
    assert settings.event_time == EventTimeWindow(timedelta(days=3), timedelta(minutes=10))
    narrower = ProcessorSettings(**base, event_time_max_age=timedelta(days=1))
    assert narrower.event_time.max_age == timedelta(days=1)
    with pytest.raises(ValidationError, match="event_time_max_age: must not exceed retention"):
        ProcessorSettings(**base, event_time_max_age=timedelta(days=8))
