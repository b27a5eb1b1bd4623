"""Event time per partition: behind partitions follow their records, caught-up ones the wall
clock, skewed clocks do not run ahead, and no partition's time moves back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logsentinel.detection.watermarks import EVENT_TIME_GRACE, Watermarks
from logsentinel.domain.logrecord import LogRecord, SourcePosition

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
P0, P1 = ("logs", 0), ("logs", 1)


def record(seconds: float, partition: int = 0, offset: int = 0) -> LogRecord:
    return LogRecord(
        timestamp=T0 + timedelta(seconds=seconds),
        message="m",
        service="checkout",
        source=SourcePosition(topic="logs", partition=partition, offset=offset),
    )


def test_a_partition_with_a_backlog_is_at_its_newest_stored_record_minus_the_grace() -> None:
    marks = Watermarks()
    marks.stored([record(10), record(30), record(20)])
    wall = T0 + timedelta(minutes=10)  # ten minutes behind
    clock = marks.clock(wall)
    assert clock(P0) == T0 + timedelta(seconds=30) - EVENT_TIME_GRACE
    assert clock(P1) is None, "nothing known of a partition without records"


def test_a_caught_up_partition_follows_the_wall_clock() -> None:
    marks = Watermarks()
    marks.stored([record(10)])
    marks.caught_up([P0])
    wall = T0 + timedelta(minutes=10)
    assert marks.clock(wall)(P0) == wall - EVENT_TIME_GRACE
    assert marks.clock(wall)(None) == wall - EVENT_TIME_GRACE, "keys without a partition"


def test_records_from_the_future_do_not_run_a_partition_ahead_of_the_wall_clock() -> None:
    marks = Watermarks()
    marks.stored([record(3600)])  # a pod's clock is an hour ahead
    wall = T0 + timedelta(seconds=60)
    assert marks.clock(wall)(P0) == wall - EVENT_TIME_GRACE


def test_event_time_never_moves_back() -> None:
    marks = Watermarks()
    marks.stored([record(100)])
    marks.caught_up([P0])
    late = T0 + timedelta(seconds=300)
    assert marks.clock(late)(P0) == late - EVENT_TIME_GRACE
    marks.caught_up([])  # new records arrived: behind again, at its records' time (100 s)
    assert marks.clock(late + timedelta(seconds=1))(P0) == late - EVENT_TIME_GRACE


def test_forgotten_partitions_start_over() -> None:
    marks = Watermarks()
    marks.stored([record(100, partition=0), record(50, partition=1)])
    marks.forget(lambda partition: partition == P1)
    clock = marks.clock(T0 + timedelta(hours=1))
    assert clock(P0) is None
    assert clock(P1) == T0 + timedelta(seconds=50) - EVENT_TIME_GRACE
