"""Detectors: per-key state machines over event time that fire on crossing.

Each detector is fed every record of its rule's selector (observe: matched or not, and the value
it measures), keeps one state per group key, and returns a Firing the moment its condition
becomes true. It then stays quiet until the condition has been false again (re-armed), so a long
burst fires once; turning firings into incidents (dedup, cooldown) is the incident builder's job.
"""

from __future__ import annotations

import math
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from logsentinel.detection.windows import Buckets, SlidingCount, SlidingValues
from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.rule import (
    AbsenceParams,
    EwmaParams,
    LatencyParams,
    RatioParams,
    ThresholdParams,
    ZScoreParams,
)

Key = tuple[str, ...]
KeyClock = Callable[[Key], datetime | None]
"""The event time of a key (that of its partition: see detection.watermarks)."""
StateT = TypeVar("StateT")
MIN_BASELINE_WINDOWS = 3
DEFAULT_BUCKET_WIDTH = timedelta(seconds=10)


@dataclass(frozen=True)
class Firing:
    """A detector's condition became true for key at time at."""

    key: Key
    at: datetime
    statistic: str
    value: float
    threshold: float
    matched: int
    total: int | None = None
    detail: str | None = None  # what fired when the statistic alone does not say: a template id


@dataclass
class Armed:
    """Crossing state: fire only on a false -> true transition."""

    armed: bool = True

    def crossed(self, condition: bool) -> bool:
        if not condition:
            self.armed = True
            return False
        fired, self.armed = self.armed, False
        return fired


class KeyedDetector(ABC, Generic[StateT]):
    """Holds one state per group key.

    bucket_width is the width of the per-key aggregates stored for the rule; detectors with a
    baseline use their window, so restore() can rebuild the baseline exactly after a rebalance.
    """

    bucket_width: timedelta = DEFAULT_BUCKET_WIDTH

    def __init__(self) -> None:
        self._states: dict[Key, StateT] = {}

    def state(self, key: Key) -> StateT:
        found = self._states.get(key)
        if found is None:
            found = self._states[key] = self.new_state()
        return found

    @abstractmethod
    def new_state(self) -> StateT: ...

    @abstractmethod
    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        """Feed one record of the rule's selector."""

    def observe_record(self, key: Key, record: LogRecord, matched: bool) -> Firing | None:
        """Feed one record; detectors that need more than time and match status override this."""
        return self.observe(key, record.timestamp, matched)

    needs_unmatched: bool = False
    """Whether records the rule does not match change the state. When not, the engine skips
    them: count windows only grow on matches, so a crossing can only happen on one."""

    takes_runs: bool = False
    """Whether observe_run may take a run of records at once (the engine offers runs only
    then: grouping a batch's records by key costs a pass over them)."""

    def observe_run(self, key: Key, first: datetime, last: datetime, count: int) -> bool:
        """Take count matching records of key, none earlier than first nor later than last, all
        at once, when none of them could fire; False leaves the state as it was, and the engine
        feeds them one by one. The default takes none."""
        return False

    def tick(self, now: KeyClock) -> list[Firing]:
        """Let event time pass without records (only time-driven detectors fire here); now(key)
        is the event time of the key's partition, None while unknown."""
        return []

    def ongoing(self, key: Key, now: datetime) -> bool:
        """Whether key's condition still holds at now (keeps its incident from auto-resolving).

        The default, for detectors that fire on single events, is no: the quiet period starts
        with the last firing.
        """
        return False

    def restore(self, key: Key, buckets: Sequence[RuleBucket], now: datetime) -> None:
        """Rebuild key's state from stored aggregates (oldest first) instead of starting cold.

        Detectors without a baseline have nothing worth rebuilding and ignore this.
        """

    def closed_features(self) -> list[tuple[Key, datetime, tuple[float, ...]]]:
        """Feature vectors of intervals closed since the last call, to store with the buckets."""
        return []

    def forget(self, owned: Callable[[Key], bool]) -> int:
        """Drop the state of keys no longer owned (partitions revoked); how many were dropped."""
        gone = [key for key in self._states if not owned(key)]
        for key in gone:
            del self._states[key]
        return len(gone)

    def keys(self) -> int:
        return len(self._states)


# --- count-based -------------------------------------------------------------------------------


@dataclass
class _CountState:
    window: SlidingCount
    crossing: Armed = field(default_factory=Armed)


class ThresholdDetector(KeyedDetector[_CountState]):
    """Matching records in the sliding window reach count."""

    def __init__(self, params: ThresholdParams) -> None:
        super().__init__()
        self.params = params

    def new_state(self) -> _CountState:
        return _CountState(window=SlidingCount(self.params.window))

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        state = self.state(key)
        if matched:
            state.window.add(at)
        count = state.window.count(at)
        if state.crossing.crossed(count >= self.params.count):
            return Firing(key, at, "count", count, self.params.count, count)
        return None

    def ongoing(self, key: Key, now: datetime) -> bool:
        state = self._states.get(key)
        return state is not None and state.window.peek(now) >= self.params.count


@dataclass
class _RatioState:
    window: SlidingCount  # every selected record, the matching ones marked
    crossing: Armed = field(default_factory=Armed)


class RatioDetector(KeyedDetector[_RatioState]):
    """matched / total in the window above a fraction, once total reaches minTotal."""

    needs_unmatched = True

    def __init__(self, params: RatioParams) -> None:
        super().__init__()
        self.params = params

    def new_state(self) -> _RatioState:
        return _RatioState(window=SlidingCount(self.params.window))

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        state = self.state(key)
        window = state.window
        window.add(at, matched)
        total = window.count(at)
        hits = window.marked
        ratio = hits / total if total else 0.0
        if state.crossing.crossed(total >= self.params.min_total and ratio > self.params.above):
            return Firing(key, at, "ratio", ratio, self.params.above, hits, total)
        return None

    def ongoing(self, key: Key, now: datetime) -> bool:
        state = self._states.get(key)
        if state is None:
            return False
        total, hits = state.window.peek(now), state.window.peek_marked(now)
        return total >= self.params.min_total and hits / total > self.params.above


# --- values --------------------------------------------------------------------------------


@dataclass
class _ValuesState:
    values: SlidingValues
    crossing: Armed = field(default_factory=Armed)


class LatencyDetector(KeyedDetector[_ValuesState]):
    """A percentile of a numeric attribute over the window exceeds above."""

    def __init__(self, params: LatencyParams) -> None:
        super().__init__()
        self.params = params

    def new_state(self) -> _ValuesState:
        return _ValuesState(values=SlidingValues(self.params.window))

    def observe_record(self, key: Key, record: LogRecord, matched: bool) -> Firing | None:
        return self.observe(key, record.timestamp, matched, numeric(record, self.params.attribute))

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        state = self.state(key)
        if matched and value is not None and math.isfinite(value):
            state.values.add(at, value)
        else:
            state.values.advance(at)
        if len(state.values) < self.params.min_count:
            state.crossing.crossed(False)
            return None
        observed = state.values.percentile(self.params.percentile)
        if state.crossing.crossed(observed > self.params.above):
            statistic = f"p{self.params.percentile:g}".replace(".", "_")
            return Firing(key, at, statistic, observed, self.params.above, len(state.values))
        return None

    def ongoing(self, key: Key, now: datetime) -> bool:
        state = self._states.get(key)
        if state is None or state.crossing.armed:
            return False
        newest = state.values.newest()
        return newest is not None and newest > now - self.params.window


# --- silence -------------------------------------------------------------------------------


@dataclass
class _SilenceState:
    last_seen: datetime | None = None
    seen: int = 0
    crossing: Armed = field(default_factory=Armed)


class AbsenceDetector(KeyedDetector[_SilenceState]):
    """A key that had logged minPriorCount matching records is silent for silentFor.

    Usually a tick notices the silence. When a whole silence and the record that ends it come
    in one batch (a backlog worked off), no tick falls inside it; the record then reveals the
    gap and the silence fires on it, dated as a tick would have dated it.
    """

    def __init__(self, params: AbsenceParams) -> None:
        super().__init__()
        self.params = params

    takes_runs = True

    def new_state(self) -> _SilenceState:
        return _SilenceState()

    def observe_run(self, key: Key, first: datetime, last: datetime, count: int) -> bool:
        state = self.state(key)
        seen = state.last_seen
        start = first if seen is None else min(first, seen)
        if last - start >= self.params.silent_for:
            return False  # a silence may end inside the run
        # no record of the run follows a gap of silentFor: each would only move last_seen on
        state.last_seen = last if seen is None else max(seen, last)
        state.seen += count
        state.crossing.crossed(False)
        return True

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        if not matched:
            return None
        state = self.state(key)
        firing = None
        last, limit = state.last_seen, self.params.silent_for
        if (
            last is not None
            and state.seen >= self.params.min_prior_count
            and at - last >= limit
            and state.crossing.crossed(True)
        ):
            seconds = limit.total_seconds()
            firing = Firing(key, last + limit, "silenceSeconds", seconds, seconds, 0)
        state.last_seen = at if last is None else max(last, at)
        state.seen += 1
        state.crossing.crossed(False)
        return firing

    def tick(self, now: KeyClock) -> list[Firing]:
        firings = []
        limit = self.params.silent_for
        for key, state in self._states.items():
            if state.last_seen is None or state.seen < self.params.min_prior_count:
                continue
            moment = now(key)
            if moment is None:
                continue
            if state.crossing.crossed(moment - state.last_seen >= limit):
                # Dated when the silence reached the limit, not when a tick noticed: live
                # traffic and a replayed backlog give the same firing.
                seconds = limit.total_seconds()
                firings.append(
                    Firing(key, state.last_seen + limit, "silenceSeconds", seconds, seconds, 0)
                )
        return firings

    def ongoing(self, key: Key, now: datetime) -> bool:
        state = self._states.get(key)
        return state is not None and not state.crossing.armed  # silent until a record re-arms


# --- baselines -------------------------------------------------------------------------------


def _noise_floor(deviation: float, mean: float) -> float:
    """A flat baseline has no deviation; Poisson noise (sqrt of the mean, at least 1) stands in,
    so that one extra line over a perfectly steady rate is not infinitely surprising."""
    return max(deviation, math.sqrt(max(mean, 1.0)))


@dataclass
class _BaselineState:
    current: SlidingCount
    buckets: Buckets
    crossing: Armed = field(default_factory=Armed)
    mean: float = 0.0
    variance: float = 0.0
    closed: int = 0


class ZScoreDetector(KeyedDetector[_BaselineState]):
    """The window's count is sigma deviations above the mean of the baseline's window counts."""

    def __init__(self, params: ZScoreParams) -> None:
        super().__init__()
        self.params = params
        self.capacity = int(params.baseline / params.window)
        self.bucket_width = params.window

    def new_state(self) -> _BaselineState:
        window = self.params.window
        return _BaselineState(current=SlidingCount(window), buckets=Buckets(window, self.capacity))

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        state = self.state(key)
        if matched:
            state.buckets.add(at)
            state.current.add(at)
        else:
            state.buckets.roll(at)
        baseline = list(state.buckets.closed)
        count = state.current.count(at)
        if len(baseline) < MIN_BASELINE_WINDOWS:
            state.crossing.crossed(False)
            return None
        mean = statistics.fmean(baseline)
        deviation = _noise_floor(statistics.pstdev(baseline), mean)
        score = (count - mean) / deviation
        if state.crossing.crossed(count >= self.params.min_count and score >= self.params.sigma):
            return Firing(key, at, "zscore", score, self.params.sigma, count)
        return None

    def ongoing(self, key: Key, now: datetime) -> bool:
        return _baseline_ongoing(self._states.get(key), now, self.params.min_count)

    def restore(self, key: Key, buckets: Sequence[RuleBucket], now: datetime) -> None:
        state = self.state(key)
        if state.buckets.closed:
            return  # already learning live; stored counts would be counted twice
        state.buckets.closed.extend(_closed_counts(buckets, self.bucket_width, now))


class EwmaDetector(KeyedDetector[_BaselineState]):
    """The window's count leaves mean + tolerance x deviation, both exponentially weighted over
    closed windows (after warmupWindows of them)."""

    def __init__(self, params: EwmaParams) -> None:
        super().__init__()
        self.params = params
        self.bucket_width = params.window
        self.memory = ewma_memory(params.alpha)

    def new_state(self) -> _BaselineState:
        window = self.params.window
        # Enough room that a silence closes as many zeros as still matter to the average,
        # so live learning and learning restored from stored buckets agree.
        return _BaselineState(current=SlidingCount(window), buckets=Buckets(window, self.memory))

    def restore(self, key: Key, buckets: Sequence[RuleBucket], now: datetime) -> None:
        state = self.state(key)
        if state.closed:
            return
        self._learn(state, _closed_counts(buckets, self.bucket_width, now))

    def _learn(self, state: _BaselineState, counts: list[int]) -> None:
        alpha = self.params.alpha
        for count in counts:
            if state.closed == 0:
                state.mean, state.variance = float(count), 0.0
            else:
                difference = count - state.mean
                increment = alpha * difference
                state.mean += increment
                state.variance = (1 - alpha) * (state.variance + difference * increment)
            state.closed += 1

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        state = self.state(key)
        self._learn(state, state.buckets.roll(at))
        if matched:
            state.buckets.add(at)
            state.current.add(at)
        count = state.current.count(at)
        if state.closed < self.params.warmup_windows:
            state.crossing.crossed(False)
            return None
        band = state.mean + self.params.tolerance * _noise_floor(
            math.sqrt(state.variance), state.mean
        )
        if state.crossing.crossed(count >= self.params.min_count and count > band):
            return Firing(key, at, "ewma", count, band, count)
        return None

    def ongoing(self, key: Key, now: datetime) -> bool:
        return _baseline_ongoing(self._states.get(key), now, self.params.min_count)


def ewma_memory(alpha: float, negligible: float = 1e-6) -> int:
    """Windows after which an observation's weight (1 - alpha)^n in the average is negligible."""
    if alpha >= 1:
        return 1
    return max(1, math.ceil(math.log(negligible) / math.log(1 - alpha)))


def _baseline_ongoing(state: _BaselineState | None, now: datetime, min_count: int) -> bool:
    """Still above the band as last evaluated, with the window still busy at now."""
    return state is not None and not state.crossing.armed and state.current.peek(now) >= min_count


def numeric(record: LogRecord, attribute: str) -> float | None:
    """A parsed attribute as a number, or None when absent or not numeric."""
    value = record.attributes.get(attribute)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _closed_counts(buckets: Sequence[RuleBucket], width: timedelta, now: datetime) -> list[int]:
    """Matched counts of the windows before now's, oldest first, with empty windows as 0."""
    seconds = width.total_seconds()
    current = int(now.timestamp() // seconds)
    by_index = {int(bucket.start.timestamp() // seconds): bucket.matched for bucket in buckets}
    closed = [index for index in by_index if index < current]
    if not closed:
        return []
    return [by_index.get(index, 0) for index in range(min(closed), current)]
