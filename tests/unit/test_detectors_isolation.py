"""Isolation-forest detector on deterministic streams: interval features, no firing while the
baseline is short, one firing for an anomalous stretch, restore from stored features, dormancy."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from logsentinel.detection.detectors import Firing
from logsentinel.detection.isolation import IsolationForestDetector
from logsentinel.detection.watermarks import fixed
from logsentinel.domain.logrecord import Level, LogRecord
from logsentinel.domain.rule import IsolationFeature, IsolationForestParams
from support.buckets import stored_bucket

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = ("shop", "checkout")
OTHER = ("shop", "payments")
SEED = 20261122
BASELINE = 40
MIN_BASELINE = 20


def minute(index: float) -> datetime:
    return T0 + timedelta(minutes=index)


def record(
    at: datetime,
    level: Level = Level.INFO,
    template: str | None = "t0",
    latency: float | None = None,
) -> LogRecord:
    return LogRecord(
        timestamp=at,
        level=level,
        message="m",
        service="checkout",
        namespace="shop",
        template_id=template,
        attributes={} if latency is None else {"latency_ms": latency},
    )


def detector(
    features: list[IsolationFeature] | None = None, min_baseline: int = MIN_BASELINE
) -> IsolationForestDetector:
    params = IsolationForestParams(
        interval=timedelta(minutes=1),
        baseline_period=timedelta(minutes=60),
        min_baseline_intervals=min_baseline,
        contamination=0.02,
        estimators=50,
        features=features or list(IsolationFeature),
    )
    return IsolationForestDetector(params)


@dataclass
class Traffic:
    """One interval's mix of records; noisy() draws a normal one from the seeded generator."""

    info: int = 60
    warnings: int = 2
    errors: int = 2
    templates: int = 6

    @classmethod
    def noisy(cls, rng: random.Random) -> Traffic:
        return cls(
            info=60 + rng.randint(-8, 8),
            warnings=rng.randint(0, 4),
            errors=rng.randint(0, 4),
            templates=rng.randint(4, 8),
        )


def feed(
    detector: IsolationForestDetector,
    index: int,
    traffic: Traffic,
    key: tuple[str, ...] = KEY,
    rng: random.Random | None = None,
) -> list[Firing]:
    """Feed interval index's records, spread over the minute; the firings they caused."""
    levels = (
        [Level.ERROR] * traffic.errors
        + [Level.WARN] * traffic.warnings
        + [Level.INFO] * traffic.info
    )
    firings = []
    for position, level in enumerate(levels):
        at = minute(index + position / len(levels))
        latency = 30 + 40 * position / len(levels) if rng is None else rng.uniform(30, 70)
        template = f"t{position % traffic.templates}"
        firing = detector.observe_record(key, record(at, level, template, latency), matched=True)
        if firing is not None:
            firings.append(firing)
    return firings


def learn_baseline(detector: IsolationForestDetector, intervals: int = BASELINE) -> random.Random:
    """Noisy normal intervals, the last one typical. Noisy ones may fire at about the
    contamination rate by design; the typical last one re-arms the detector once scored."""
    rng = random.Random(SEED)
    for index in range(intervals - 1):
        feed(detector, index, Traffic.noisy(rng), rng=rng)
    feed(detector, intervals - 1, Traffic())
    return rng


SPIKE = Traffic(errors=40)  # 20x the usual errors, everything else as usual


# --- features --------------------------------------------------------------------------------


def test_an_interval_closes_into_its_feature_vector_once() -> None:
    forest = detector()
    records = [
        record(minute(0.1), Level.INFO, "a", 10),
        record(minute(0.2), Level.INFO, "a", 30),
        record(minute(0.3), Level.ERROR, "b", 20),
        record(minute(0.4), Level.FATAL, None),
    ]
    for each in records:
        assert forest.observe_record(KEY, each, matched=False) is None
    assert forest.closed_features() == [], "the interval is still open"
    forest.observe_record(KEY, record(minute(1.5)), matched=True)
    # trace, debug, info, warn, error, fatal, unknown; templates; error ratio; p50, p99
    expected = (0, 0, 2, 0, 1, 1, 0, 2, 0.5, 20, 30)
    assert forest.closed_features() == [(KEY, minute(0), expected)]
    assert forest.closed_features() == [], "returned once"
    assert forest.dimensions == len(expected)
    assert forest.needs_unmatched, "the engine must feed it the records the rule does not match"


def test_features_follow_the_fixed_order_whatever_the_rule_lists() -> None:
    forest = detector(features=[IsolationFeature.ERROR_RATIO, IsolationFeature.COUNT_BY_LEVEL])
    forest.observe_record(KEY, record(minute(0), Level.ERROR), matched=True)
    forest.observe_record(KEY, record(minute(0.5), Level.UNKNOWN), matched=True)
    forest.tick(fixed(minute(1)))
    ((_, _, vector),) = forest.closed_features()
    assert vector == (0, 0, 0, 0, 1, 0, 1, 0.5)


def test_empty_intervals_close_as_zeros_while_the_key_is_active_then_it_goes_dormant() -> None:
    forest = detector(min_baseline=10)
    forest.observe_record(KEY, record(minute(0)), matched=True)
    assert forest.tick(fixed(minute(3.5))) == []
    closed = forest.closed_features()
    assert [start for _, start, _ in closed] == [minute(0), minute(1), minute(2)]
    assert closed[1][2] == (0.0,) * forest.dimensions
    forest.tick(fixed(minute(60)))
    assert forest.keys() == 1, "silent for less than a baseline period: still active"
    assert len(forest.closed_features()) == 57
    forest.tick(fixed(minute(61)))
    assert forest.keys() == 0, "a whole baseline period of silence: dormant, dropped"
    assert len(forest.closed_features()) == 1, "no zeros beyond the baseline period"
    assert forest.tick(fixed(minute(200))) == []
    assert forest.closed_features() == []


def test_a_long_gap_closes_one_baseline_period_of_zeros_then_starts_cold() -> None:
    forest = detector(min_baseline=10)
    forest.observe_record(KEY, record(minute(0)), matched=True)
    for second in range(3):
        assert forest.observe_record(KEY, record(minute(500 + second / 60)), matched=True) is None
    assert len(forest.closed_features()) == 61, "the record's interval and 60 empty ones"
    assert forest.tick(fixed(minute(501))) == [], (
        "a baseline of nothing but zeros was dropped: no model to call three records anomalous"
    )
    assert forest.keys() == 1


# --- firing ----------------------------------------------------------------------------------


def test_no_firing_while_the_baseline_is_shorter_than_min_baseline_intervals() -> None:
    forest = detector()
    rng = learn_baseline(forest, MIN_BASELINE - 1)
    assert feed(forest, MIN_BASELINE - 1, SPIKE) == []
    assert feed(forest, MIN_BASELINE, Traffic.noisy(rng), rng=rng) == [], (
        "the spike closed the baseline's 20th interval: nothing to score it against yet"
    )


def test_normal_intervals_do_not_fire_and_a_long_spike_fires_once() -> None:
    forest = detector()
    learn_baseline(forest)
    for index in range(BASELINE, BASELINE + 10):
        assert feed(forest, index, Traffic()) == [], f"typical interval {index - 1} fired"
    spike = BASELINE + 10
    assert feed(forest, spike, SPIKE) == [], "the spike's interval is still open"
    firings = feed(forest, spike + 1, SPIKE) + feed(forest, spike + 2, SPIKE)
    firings += forest.tick(fixed(minute(spike + 3)))
    assert [firing.at for firing in firings] == [minute(spike + 1)], "three anomalous: one firing"


def test_a_spike_beyond_the_baseline_fires_when_its_interval_closes() -> None:
    forest = detector()
    learn_baseline(forest)
    feed(forest, BASELINE, SPIKE)
    (firing,) = feed(forest, BASELINE + 1, Traffic())
    assert firing.key == KEY
    assert firing.at == minute(BASELINE + 1), "at the end of the anomalous interval"
    assert (firing.statistic, firing.threshold, firing.detail) == (
        "beyondBaseline",
        1,
        "count.error",
    ), "errors 0-4 in the baseline: 40 lies nine range widths above it"
    assert firing.value == 9
    assert firing.matched == SPIKE.info + SPIKE.warnings + SPIKE.errors
    assert forest.ongoing(KEY, minute(BASELINE + 1.5)), "anomalous until a normal interval"
    assert feed(forest, BASELINE + 2, SPIKE) == [], "re-armed by the normal interval"
    assert not forest.ongoing(KEY, minute(BASELINE + 2.5))
    assert len(forest.tick(fixed(minute(BASELINE + 3)))) == 1, "tick closes it and fires"
    assert forest.tick(fixed(minute(BASELINE + 3.5))) == [], "not twice"


def test_a_mix_never_seen_inside_the_ranges_is_isolated_by_the_forest() -> None:
    forest = detector()
    for index in range(BASELINE):
        load = 30 + 60 * (index * 37 % BASELINE) / BASELINE  # every load once, shuffled
        busy = round(load / 10)
        feed(forest, index, Traffic(round(load), busy, round(load / 15), busy))
    typical = [feed(forest, index, Traffic(60, 6, 4, 6)) for index in range(BASELINE, BASELINE + 5)]
    assert typical == [[]] * 5
    quiet_but_failing = Traffic(info=30, warnings=9, errors=6, templates=9)
    feed(forest, BASELINE + 5, quiet_but_failing)
    (firing,) = forest.tick(fixed(minute(BASELINE + 6)))
    assert (firing.statistic, firing.threshold) == ("anomalyScore", 0)
    assert firing.value < 0


def test_a_busy_key_falling_silent_fires_once() -> None:
    forest = detector()
    learn_baseline(forest)
    assert forest.tick(fixed(minute(BASELINE))) == [], "closes the typical last interval"
    (firing,) = forest.tick(fixed(minute(BASELINE + 5)))
    assert firing.at == minute(BASELINE + 1), "the first empty interval"
    assert firing.matched == 0
    assert forest.tick(fixed(minute(BASELINE + 10))) == [], "still silent: not twice"


def test_keys_keep_separate_baselines() -> None:
    forest = detector()
    learn_baseline(forest)
    feed(forest, BASELINE, Traffic())
    feed(forest, BASELINE, SPIKE, key=OTHER)
    assert forest.tick(fixed(minute(BASELINE + 1))) == [], "OTHER has no baseline of its own"
    assert forest.keys() == 2


def test_the_model_is_retrained_as_the_baseline_grows() -> None:
    forest = detector()
    trained_sizes: list[int] = []
    model = None
    for index in range(110):
        forest.observe_record(KEY, record(minute(index)), matched=True)
        state = forest.state(KEY)
        if state.model is not model:  # a new model: trained on the baseline as it is now
            model = state.model
            trained_sizes.append(state.trained_on)
    assert trained_sizes == [20, 25, 32, 40, 50, 60, 60, 60, 60], (
        "first at minBaselineIntervals, then after 25% growth, then every quarter of a full one"
    )


# --- restore ---------------------------------------------------------------------------------


def test_restore_from_stored_features_fires_on_the_same_spike() -> None:
    live = detector()
    learn_baseline(live)
    stored = [
        stored_bucket(start=start, matched=0, total=0, features=features)
        for _, start, features in live.closed_features()
    ]
    now = minute(BASELINE)
    fresh = detector()
    junk = stored_bucket(start=minute(BASELINE - 1), matched=1, total=1, features=(1.0, 2.0))
    fresh.restore(KEY, [*stored, junk], now)
    feed(fresh, BASELINE, SPIKE)
    assert len(fresh.tick(fixed(minute(BASELINE + 1)))) == 1
    typical = detector()
    typical.restore(KEY, stored, now)
    feed(typical, BASELINE, Traffic())
    assert typical.tick(fixed(minute(BASELINE + 1))) == []


def test_restore_ignores_unusable_buckets_and_a_live_baseline() -> None:
    wrong_length = [
        stored_bucket(start=minute(index), matched=1, total=1, features=(1.0,))
        for index in range(BASELINE)
    ]
    forest = detector()
    forest.restore(KEY, wrong_length, minute(BASELINE))
    assert forest.keys() == 0, "nothing usable: no state"
    stale = [
        stored_bucket(
            start=minute(index - 120), matched=0, total=0, features=(0.0,) * forest.dimensions
        )
        for index in range(BASELINE)
    ]
    forest.restore(KEY, stale, minute(BASELINE))
    assert forest.keys() == 0, "older than the baseline period before now"
    learn_baseline(forest, 5)
    forest.closed_features()
    usable = [
        stored_bucket(
            start=minute(index - BASELINE), matched=0, total=0, features=(0.0,) * forest.dimensions
        )
        for index in range(BASELINE)
    ]
    forest.restore(KEY, usable, minute(5))
    feed(forest, 5, SPIKE)
    assert forest.tick(fixed(minute(6))) == [], (
        "a live baseline is not overwritten: still too short"
    )


# --- cost ------------------------------------------------------------------------------------


def test_importing_the_detectors_does_not_load_scikit_learn() -> None:
    probe = (
        "import sys\n"
        "import logsentinel.detection.detectors, logsentinel.detection.isolation\n"
        "import logsentinel.detection.newpattern\n"
        "print('sklearn' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
