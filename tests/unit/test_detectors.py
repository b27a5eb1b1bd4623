"""Detectors on deterministic streams: fire exactly when the condition becomes true, not before,
not twice; ties, window edges and empty windows handled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logsentinel.detection.catalog import build
from logsentinel.detection.detectors import (
    AbsenceDetector,
    EwmaDetector,
    LatencyDetector,
    RatioDetector,
    ThresholdDetector,
    ZScoreDetector,
)
from logsentinel.detection.isolation import IsolationForestDetector
from logsentinel.detection.newpattern import NewPatternDetector
from logsentinel.detection.watermarks import fixed
from logsentinel.detection.windows import Buckets, SlidingCount, SlidingValues
from logsentinel.domain.rule import (
    AbsenceParams,
    Detector,
    DetectorType,
    EwmaParams,
    LatencyParams,
    RatioParams,
    ThresholdParams,
    ZScoreParams,
)
from support.buckets import stored_bucket

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = ("shop", "checkout")
OTHER = ("shop", "payments")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- windows ---------------------------------------------------------------------------------


def test_sliding_count_is_half_open_and_ignores_late_events() -> None:
    window = SlidingCount(timedelta(seconds=60))
    window.add(at(0))
    window.add(at(30))
    assert window.count(at(59)) == 2
    assert window.count(at(60)) == 1, "an event exactly one window old has left"
    late = SlidingCount(timedelta(seconds=60))
    late.add(at(30))
    late.add(at(-40))
    assert late.count(at(30)) == 1, "an event older than the window on arrival is ignored"
    late.add(at(-5))
    assert late.count(at(30)) == 2, "a late event inside the window counts"
    assert late.count(at(56)) == 1, "and leaves in time order"


def test_sliding_values_nearest_rank_percentile() -> None:
    values = SlidingValues(timedelta(seconds=60))
    for second, value in enumerate([5, 1, 4, 2, 3]):
        values.add(at(second), value)
    assert values.percentile(50) == 3
    assert values.percentile(100) == 5
    assert values.percentile(1) == 1
    values.advance(at(61))
    assert len(values) == 3
    with pytest.raises(ValueError, match="no values"):
        SlidingValues(timedelta(seconds=1)).percentile(50)


def test_buckets_close_empty_windows_in_a_gap() -> None:
    buckets = Buckets(timedelta(seconds=60), capacity=4)
    buckets.add(at(1))
    buckets.add(at(2))
    assert buckets.roll(at(59)) == []
    assert buckets.roll(at(185)) == [2, 0, 0], "at 185 s the buckets up to 180 s are closed"
    assert list(buckets.closed) == [2, 0, 0]
    buckets.roll(at(6000))
    assert list(buckets.closed) == [0, 0, 0, 0], "a long silence keeps only capacity zeros"


# --- threshold -------------------------------------------------------------------------------


def threshold(count: int = 3, window: int = 60) -> ThresholdDetector:
    return ThresholdDetector(ThresholdParams(count=count, window=timedelta(seconds=window)))


def test_threshold_fires_on_the_crossing_record_and_not_twice() -> None:
    detector = threshold()
    assert detector.observe(KEY, at(0), True) is None
    assert detector.observe(KEY, at(10), False) is None
    assert detector.observe(KEY, at(10), True) is None
    firing = detector.observe(KEY, at(20), True)
    assert firing is not None
    assert (firing.at, firing.value, firing.threshold, firing.statistic) == (at(20), 3, 3, "count")
    assert detector.observe(KEY, at(30), True) is None, "still above: no second firing"


def test_threshold_counts_ties_and_keys_separately() -> None:
    detector = threshold()
    assert detector.observe(KEY, at(5), True) is None
    assert detector.observe(OTHER, at(5), True) is None
    assert detector.observe(KEY, at(5), True) is None
    assert detector.observe(KEY, at(5), True) is not None, "three records in the same instant"
    assert detector.keys() == 2


def test_threshold_rearms_after_the_window_empties() -> None:
    detector = threshold(count=2)
    detector.observe(KEY, at(0), True)
    assert detector.observe(KEY, at(1), True) is not None
    assert detector.observe(KEY, at(100), False) is None, "empty window: below, re-armed"
    detector.observe(KEY, at(101), True)
    assert detector.observe(KEY, at(102), True) is not None


def test_threshold_spread_over_more_than_the_window_never_fires() -> None:
    detector = threshold(count=3)
    assert all(detector.observe(KEY, at(s), True) is None for s in (0, 40, 80, 120, 160))


# --- ratio -----------------------------------------------------------------------------------


def test_ratio_needs_volume_and_a_strictly_higher_share() -> None:
    detector = RatioDetector(RatioParams(above=0.5, min_total=4, window=timedelta(minutes=1)))
    assert detector.observe(KEY, at(0), True) is None, "1/1 but below minTotal"
    assert detector.observe(KEY, at(1), True) is None
    assert detector.observe(KEY, at(2), False) is None
    assert detector.observe(KEY, at(3), False) is None, "2/4 is not above 0.5"
    firing = detector.observe(KEY, at(4), True)
    assert firing is not None
    assert (firing.matched, firing.total, firing.value) == (3, 5, 0.6)
    assert detector.observe(KEY, at(5), True) is None, "not twice"


# --- latency ---------------------------------------------------------------------------------


def test_latency_percentile_over_bound_with_minimum_count() -> None:
    params = LatencyParams(
        attribute="ms", above=100, percentile=50, min_count=3, window=timedelta(minutes=1)
    )
    detector = LatencyDetector(params)
    assert detector.observe(KEY, at(0), True, 500) is None, "one value is below minCount"
    assert detector.observe(KEY, at(1), True, 50) is None
    assert detector.observe(KEY, at(2), True, 60) is None, "median 60"
    assert detector.observe(KEY, at(3), False) is None, "unmatched records carry no value"
    assert detector.observe(KEY, at(4), True, 400) is None, "median of 50, 60, 400, 500 is 60"
    firing = detector.observe(KEY, at(5), True, 300)
    assert firing is not None
    assert (firing.statistic, firing.value, firing.matched) == ("p50", 300, 5)
    assert detector.observe(KEY, at(6), True, float("nan")) is None, "NaN is not a latency"


# --- absence ---------------------------------------------------------------------------------


def test_absence_fires_once_when_the_silence_reaches_the_limit() -> None:
    detector = AbsenceDetector(AbsenceParams(silent_for=timedelta(minutes=5), min_prior_count=2))
    detector.observe(KEY, at(0), True)
    assert detector.tick(fixed(at(600))) == [], "one prior record is below minPriorCount"
    detector.observe(KEY, at(600), True)
    detector.observe(KEY, at(610), False)
    assert detector.tick(fixed(at(899))) == []
    (firing,) = detector.tick(fixed(at(900)))
    assert (firing.key, firing.value, firing.threshold) == (KEY, 300.0, 300.0)
    assert detector.tick(fixed(at(1000))) == [], "not twice"
    detector.observe(KEY, at(1001), True)
    assert len(detector.tick(fixed(at(1301)))) == 1, "a record re-arms it"


def test_a_silence_no_tick_saw_fires_on_the_record_that_ends_it_dated_as_a_tick_would() -> None:
    detector = AbsenceDetector(AbsenceParams(silent_for=timedelta(minutes=5), min_prior_count=2))
    assert detector.observe(KEY, at(0), True) is None
    assert detector.observe(KEY, at(10), True) is None
    assert detector.observe(KEY, at(200), True) is None, "a gap shorter than silentFor"
    firing = detector.observe(KEY, at(700), True)  # a backlog: silent from 200 to 700
    assert firing is not None
    assert (firing.at, firing.value) == (at(500), 300.0)
    assert detector.tick(fixed(at(701))) == [], "over: the record re-armed it"
    (later,) = detector.tick(fixed(at(1000)))
    assert later.at == at(1000)


def test_absence_of_a_key_never_seen_is_not_an_incident() -> None:
    detector = AbsenceDetector(AbsenceParams(silent_for=timedelta(seconds=1)))
    assert detector.tick(fixed(at(10_000))) == []


# --- z-score and EWMA ------------------------------------------------------------------------


def steady(detector: ZScoreDetector | EwmaDetector, minutes: int, per_minute: int) -> list[object]:
    firings = []
    for minute in range(minutes):
        for index in range(per_minute):
            firings.append(detector.observe(KEY, at(minute * 60 + index * (60 / per_minute)), True))
    return [firing for firing in firings if firing is not None]


def zscore() -> ZScoreDetector:
    return ZScoreDetector(
        ZScoreParams(
            sigma=3, min_count=15, window=timedelta(minutes=1), baseline=timedelta(minutes=10)
        )
    )


def test_zscore_stays_quiet_on_steady_traffic_and_during_warm_up() -> None:
    detector = zscore()
    assert steady(detector, 30, 10) == []


def test_zscore_fires_on_a_burst_once() -> None:
    detector = zscore()
    steady(detector, 10, 10)
    burst = [detector.observe(KEY, at(600 + i * 0.5), True) for i in range(60)]
    fired = [firing for firing in burst if firing is not None]
    assert len(fired) == 1
    # baseline of 10/min, noise floor sqrt(10): 10 + 3 * 3.16 -> the 20th record of the minute
    assert fired[0].matched == 20
    assert fired[0].value >= 3


def test_ewma_learns_then_flags_a_spike_once() -> None:
    detector = EwmaDetector(
        EwmaParams(
            alpha=0.3, tolerance=3, min_count=5, window=timedelta(minutes=1), warmup_windows=5
        )
    )
    assert steady(detector, 20, 10) == []
    burst = [detector.observe(KEY, at(1200 + i * 0.5), True) for i in range(60)]
    fired = [firing for firing in burst if firing is not None]
    assert len(fired) == 1
    assert fired[0].value > fired[0].threshold


def test_ewma_learns_every_empty_window_of_a_silence_like_a_restored_baseline() -> None:
    params = EwmaParams(
        alpha=0.3, tolerance=3, min_count=5, window=timedelta(minutes=1), warmup_windows=5
    )
    live = EwmaDetector(params)
    steady(live, 10, 10)
    # 5 silent minutes, then one record in minute 15: windows 10..14 close with 0 lines.
    live.observe(KEY, at(15 * 60), True)
    restored = EwmaDetector(params)
    stored = [stored_bucket(at(minute * 60), 10, 10) for minute in range(10)]
    restored.restore(KEY, stored, at(15 * 60))
    live_state, restored_state = live.state(KEY), restored.state(KEY)
    assert live_state.closed == restored_state.closed == 15
    assert live_state.mean == pytest.approx(restored_state.mean)
    assert live_state.variance == pytest.approx(restored_state.variance)
    assert live_state.mean < 10 * 0.7**4, "five zeros pulled the average down"


def test_build_maps_every_detector_type() -> None:
    assert isinstance(build(Detector(type="threshold", threshold={"count": 2})), ThresholdDetector)
    assert isinstance(build(Detector(type="ewma")), EwmaDetector)
    assert isinstance(build(Detector(type="newPattern")), NewPatternDetector)
    assert isinstance(build(Detector(type="isolationForest")), IsolationForestDetector)
    built = {type(build(Detector.model_validate(example_detector(t)))) for t in DetectorType}
    assert len(built) == len(DetectorType), "one detector class per type"


def example_detector(detector_type: DetectorType) -> dict[str, object]:
    required: dict[DetectorType, dict[str, object]] = {
        DetectorType.THRESHOLD: {"count": 5},
        DetectorType.RATIO: {"above": 0.5},
        DetectorType.ZSCORE: {"sigma": 3, "minCount": 5},
        DetectorType.ABSENCE: {"silentFor": "5m"},
        DetectorType.LATENCY: {"attribute": "latency_ms", "above": 100},
    }
    member = {"newPattern": "newPattern", "isolationForest": "isolationForest"}.get(
        detector_type.value, detector_type.value
    )
    return {"type": detector_type.value, member: required.get(detector_type, {})}


def test_sliding_count_with_shared_and_out_of_order_timestamps() -> None:
    window = SlidingCount(timedelta(seconds=10))
    for _ in range(3):
        window.add(at(5))
    window.add(at(7))
    window.add(at(6))  # out of order, between two runs
    window.add(at(5))  # out of order, joins the run of 5 s
    window.add(at(-10))  # older than the window on arrival: ignored
    assert window.count(at(7)) == 6
    assert window.peek(at(15.5)) == 2, "the events at 5 s left at 15 s; 6 s and 7 s remain"
    assert window.count(at(16)) == 1
    assert window.count(at(17)) == 0


def test_sliding_count_bisects_late_events_into_a_long_window() -> None:
    """Thousands of distinct timestamps (a busy key), second-resolution events arriving late
    among them, and the dead prefix reclaimed: the count is what a brute force gives."""
    width = timedelta(seconds=5)
    window = SlidingCount(width)
    events: list[tuple[datetime, bool]] = []

    def brute(now: datetime, marked_only: bool = False) -> int:
        return sum(1 for e, mark in events if now - width < e <= now and (mark or not marked_only))

    for step in range(6000):
        moment = T0 + timedelta(milliseconds=3 * step)
        late = moment.replace(microsecond=0)  # a second clock's line, up to a second behind
        for at in (moment, late) if step % 7 == 0 else (moment,):
            mark = step % 3 == 0
            window.add(at, mark)
            events.append((at, mark))  # never older than the window, so never ignored
        if step % 500 == 0:
            assert window.count(moment) == brute(moment)
            assert window.marked == brute(moment, marked_only=True)
    later = moment + timedelta(seconds=1)
    assert window.peek(later) == brute(later)
    assert window.peek_marked(later) == brute(later, marked_only=True)
