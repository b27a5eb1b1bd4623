"""verify.assess: is the triggering log signal back under its threshold, judged on buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.incident import WindowStatistics
from logsentinel.remediation.verify import Verdict, assess

FIX = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a multiple of the 10 s bucket width
WIDTH = timedelta(seconds=10)
MINUTE = timedelta(minutes=1)
ONE_WINDOW_LATER = FIX + MINUTE


def at(seconds: float) -> datetime:
    return FIX + timedelta(seconds=seconds)


def bucket(offset: int, matched: int, total: int = 0, width: timedelta = WIDTH) -> RuleBucket:
    return RuleBucket("shop/errors", (), at(offset), width, matched, total)


def fired(statistic: str = "count", threshold: float = 50, matched: int = 51) -> WindowStatistics:
    return WindowStatistics(
        start=FIX - MINUTE,
        end=FIX,
        statistic=statistic,
        value=threshold + 1,
        threshold=threshold,
        matched=matched,
    )


def judge(
    buckets: list[RuleBucket],
    statistics: WindowStatistics | None = None,
    *,
    window: timedelta = MINUTE,
    since: datetime = FIX,
    complete_before: datetime = ONE_WINDOW_LATER,
) -> Verdict:
    return assess(buckets, statistics or fired(), window, since, complete_before)


def steady(matched: int, total: int = 0, seconds: int = 60) -> list[RuleBucket]:
    """One bucket per 10 s from the fix on."""
    return [bucket(offset, matched, total) for offset in range(0, seconds, 10)]


# --- too early -------------------------------------------------------------------------------


def test_no_buckets_and_no_time_since_the_fix_is_too_early() -> None:
    verdict = judge([], complete_before=FIX)

    assert verdict.recovered is None
    assert verdict.message == "no complete interval since the fix yet"


def test_less_than_a_full_window_of_complete_buckets_is_too_early() -> None:
    verdict = judge(steady(0), complete_before=at(59))

    assert verdict.recovered is None
    assert verdict.message == "waiting for a full 1 min of data after the fix"


def test_a_full_window_of_complete_buckets_is_judged() -> None:
    assert judge(steady(0), complete_before=at(60)).recovered is True


def test_window_not_a_multiple_of_the_bucket_width_rounds_up() -> None:
    window = timedelta(seconds=45)  # 4.5 buckets -> 5

    assert judge(steady(0), window=window, complete_before=at(49)).recovered is None
    assert judge(steady(0), window=window, complete_before=at(50)).recovered is True


def test_since_between_bucket_starts_waits_for_the_next_whole_bucket() -> None:
    since = at(5)

    assert judge(steady(0, seconds=70), since=since, complete_before=at(65)).recovered is None
    assert judge(steady(0, seconds=70), since=since, complete_before=at(70)).recovered is True


def test_bucket_width_comes_from_the_buckets() -> None:
    width = timedelta(minutes=1)
    buckets = [bucket(offset, 0, width=width) for offset in range(0, 300, 60)]
    window = timedelta(minutes=5)

    assert judge(buckets, window=window, complete_before=at(240)).recovered is None
    assert judge(buckets, window=window, complete_before=at(300)).recovered is True


# --- count -----------------------------------------------------------------------------------


def test_count_below_the_threshold_has_recovered() -> None:
    buckets = [bucket(0, 20), bucket(10, 29)]  # 49 in the window

    verdict = judge(buckets, fired(threshold=50))

    assert verdict.recovered is True
    assert verdict.message == (
        "at most 49 matching records per 1 min over the 1 min since the fix (fired at 50)"
    )


def test_count_at_the_threshold_has_not_recovered() -> None:
    verdict = judge([bucket(0, 20), bucket(50, 30)], fired(threshold=50))

    assert verdict.recovered is False
    assert "at most 50 matching records" in verdict.message


def test_count_is_the_worst_sliding_window() -> None:
    apart = [bucket(0, 30), bucket(60, 30)]  # never in one 6-bucket window
    together = [bucket(50, 30), bucket(60, 30)]

    assert judge(apart, complete_before=at(120)).recovered is True
    verdict = judge(together, complete_before=at(120))
    assert verdict.recovered is False
    assert "at most 60 matching records per 1 min over the 2 min" in verdict.message


def test_missing_buckets_count_as_zero() -> None:
    verdict = judge([bucket(30, 10)], complete_before=at(120))

    assert verdict.recovered is True
    assert "at most 10 matching records" in verdict.message


def test_no_buckets_at_all_after_a_full_window_counts_as_zero() -> None:
    verdict = judge([], complete_before=at(60))

    assert verdict.recovered is True
    assert "at most 0 matching records" in verdict.message


def test_buckets_before_since_are_ignored() -> None:
    before = [bucket(-10, 1000), bucket(-60, 1000)]

    assert judge([*before, *steady(1)]).recovered is True


def test_bucket_that_started_before_an_unaligned_since_is_ignored() -> None:
    buckets = [bucket(0, 1000), *[bucket(offset, 0) for offset in range(10, 70, 10)]]

    assert judge(buckets, since=at(5), complete_before=at(70)).recovered is True


def test_incomplete_bucket_at_complete_before_is_ignored() -> None:
    buckets = [*steady(0), bucket(60, 1000)]

    assert judge(buckets, complete_before=at(60)).recovered is True
    assert judge(buckets, complete_before=at(70)).recovered is False


# --- ratio -----------------------------------------------------------------------------------


def test_ratio_below_the_threshold_with_traffic_has_recovered() -> None:
    verdict = judge(steady(5, total=100), fired("ratio", threshold=0.2))

    assert verdict.recovered is True
    assert verdict.message == (
        "matching ratio at most 0.050 over the 1 min since the fix (fired above 0.2)"
    )


def test_ratio_at_or_above_the_threshold_has_not_recovered() -> None:
    assert judge(steady(20, total=100), fired("ratio", threshold=0.2)).recovered is False
    assert judge(steady(30, total=100), fired("ratio", threshold=0.2)).recovered is False


@pytest.mark.parametrize("buckets", [[], steady(0, total=0)])
def test_ratio_without_traffic_cannot_be_judged(buckets: list[RuleBucket]) -> None:
    verdict = judge(buckets, fired("ratio", threshold=0.2))

    assert verdict.recovered is None
    assert verdict.message == "no traffic in the 1 min since the fix: cannot judge a ratio"


# --- other statistics ------------------------------------------------------------------------


@pytest.mark.parametrize(("worst", "recovered"), [(19, True), (20, False), (39, False)])
def test_other_statistics_must_fall_below_half_the_firing_level(
    worst: int, recovered: bool
) -> None:
    verdict = judge([bucket(0, worst)], fired("zscore", threshold=3.0, matched=40))

    assert verdict.recovered is recovered
    assert f"at most {worst} matching records per 1 min" in verdict.message
    assert "(40 when the rule fired)" in verdict.message


def test_without_window_statistics_any_matching_record_is_too_many() -> None:
    assert assess(steady(0), None, MINUTE, FIX, at(60)).recovered is True
    verdict = assess([bucket(20, 1)], None, MINUTE, FIX, at(60))
    assert verdict.recovered is False
    assert "(1 when the rule fired)" in verdict.message
