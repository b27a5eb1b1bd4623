"""Isolation-forest detection: each interval's feature vector scored against the key's own past.

Every record of the rule's selector adds to the features of its key's current epoch-aligned
interval. Features are computed over all of those records, matched or not (an error ratio needs
the records that are not errors too), so the rule's match does not narrow them. When an interval
closes, its vector is scored by a forest trained on the key's baseline of earlier vectors, then
joins that baseline; an interval the forest calls anomalous fires, once per anomalous stretch.

A forest cannot see past its training data: a value beyond the baseline's largest follows that
largest one down every tree and scores no worse than it, so a twenty-fold error spike would pass
for the baseline's busiest minute. An interval whose feature lies further outside the baseline's
range than the range is wide is therefore anomalous too (statistic beyondBaseline).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from logsentinel.detection.detectors import (
    Armed,
    Firing,
    Key,
    KeyClock,
    KeyedDetector,
    numeric,
)
from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.logrecord import Level, LogRecord
from logsentinel.domain.rule import IsolationFeature, IsolationForestParams

LATENCY_PERCENTILES = (50.0, 99.0)
BEYOND_BASELINE_RANGES = 1.0
"""How many widths of the baseline's range a feature must lie outside it to count as anomalous."""
RANDOM_STATE = 0
RETRAIN_GROWTH_DIVISOR = 4
"""Retrain once the baseline has gained a quarter of the vectors it was last trained on (a full
baseline: every quarter of its length)."""
MAX_PENDING_FEATURES = 65_536
"""closed_features() not called for this many intervals: the oldest are dropped, not hoarded."""


class _Scorer(Protocol):
    def decision_function(self, rows: Sequence[Sequence[float]]) -> Iterable[float]: ...


@dataclass
class _Interval:
    index: int
    records: int = 0
    by_level: dict[Level, int] = field(default_factory=dict)
    templates: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _ClosedInterval:
    index: int
    features: tuple[float, ...]
    records: int


@dataclass(frozen=True)
class _Model:
    """A trained forest and the per-feature range of the baseline it was trained on."""

    scorer: _Scorer
    low: tuple[float, ...]
    high: tuple[float, ...]

    def outside_range(self, features: tuple[float, ...]) -> tuple[float, int]:
        """How many range widths the furthest feature lies outside the baseline, and which.

        A feature constant in the baseline has no width; its own size (at least 1) stands in.
        """
        furthest, which = 0.0, 0
        for index, (value, low, high) in enumerate(zip(features, self.low, self.high, strict=True)):
            width = high - low if high > low else max(abs(high), 1.0)
            outside = max(value - high, low - value, 0.0) / width
            if outside > furthest:
                furthest, which = outside, index
        return furthest, which


@dataclass
class _ForestState:
    baseline: deque[tuple[float, ...]]
    current: _Interval | None = None
    last_active_index: int | None = None
    model: _Model | None = None
    trained_on: int = 0
    added_since_training: int = 0
    crossing: Armed = field(default_factory=Armed)


class IsolationForestDetector(KeyedDetector[_ForestState]):
    """Scores closed intervals with a per-key isolation forest; fires on an anomalous one.

    Features, in the order of IsolationFeature whichever order the rule lists them in (so a
    stored vector means the same thing however the rule is written): countByLevel (one count per
    Level), distinctTemplates, errorRatio (error and fatal records over all), latencyPercentiles
    (p50 and p99 of latencyAttribute, 0 without values).

    Empty intervals: while a key is active, an interval without records closes as an all-zero
    vector, is scored (a busy service falling silent is a change its features show) and joins
    the baseline (a service quiet at night learns that quiet is normal). A key silent for a
    whole baseline period would have nothing but zeros left in its baseline, so it is dormant:
    its state is dropped and it starts cold when it logs again.

    A model is trained once the baseline holds minBaselineIntervals vectors and retrained when
    it has grown by a quarter since the last training (every quarter baseline once full). A
    firing's statistic is anomalyScore (the forest's decision score, below 0) or, when only the
    range check caught the interval, beyondBaseline (range widths outside, above 1, with the
    feature's name as detail); matched is the interval's record count.
    """

    needs_unmatched = True  # features count every record of the selector

    def __init__(self, params: IsolationForestParams) -> None:
        super().__init__()
        self.params = params
        self.bucket_width = params.interval
        self.capacity = int(params.baseline_period / params.interval)
        self.features = [feature for feature in IsolationFeature if feature in params.features]
        self.feature_names = self._feature_names()
        self.dimensions = len(self.feature_names)
        self._interval_seconds = params.interval.total_seconds()
        self._pending: deque[tuple[Key, datetime, tuple[float, ...]]] = deque(
            maxlen=MAX_PENDING_FEATURES
        )

    def new_state(self) -> _ForestState:
        return _ForestState(baseline=deque(maxlen=self.capacity))

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        """Without the record, count it as one record of unknown level, template and latency."""
        return self._add(key, at, Level.UNKNOWN, None, None)

    def observe_record(self, key: Key, record: LogRecord, matched: bool) -> Firing | None:
        latency = numeric(record, self.params.latency_attribute)
        return self._add(key, record.timestamp, record.level, record.template_id, latency)

    def tick(self, now: KeyClock) -> list[Firing]:
        """Close every interval before the one of the key's event time, scoring them; drop
        dormant keys."""
        firings: list[Firing] = []
        dormant: list[Key] = []
        for key, state in self._states.items():
            moment = now(key)
            if moment is None:
                continue
            index = self._index(moment)
            firings.extend(self._close_before(key, state, index))
            if self._dormant(state, index):
                dormant.append(key)
        for key in dormant:
            del self._states[key]
        return firings

    def restore(self, key: Key, buckets: Sequence[RuleBucket], now: datetime) -> None:
        """Seed key's baseline from the stored vectors of the baseline period before now."""
        existing = self._states.get(key)
        if existing is not None and existing.baseline:
            return  # already learning live; stored vectors would be counted twice
        now_index = self._index(now)
        usable = sorted(
            (
                bucket
                for bucket in buckets
                if len(bucket.features) == self.dimensions
                and all(math.isfinite(value) for value in bucket.features)
                and now_index - self.capacity <= self._index(bucket.start) < now_index
            ),
            key=lambda bucket: bucket.start,
        )
        if not usable:
            return
        state = self.state(key)
        latest = self._index(usable[-1].start)
        if state.last_active_index is None or state.last_active_index < latest:
            state.last_active_index = latest
        self._learn(state, [bucket.features for bucket in usable])

    def ongoing(self, key: Key, now: datetime) -> bool:
        """Whether the key's last closed interval was anomalous (no normal one since)."""
        state = self._states.get(key)
        return state is not None and not state.crossing.armed

    def closed_features(self) -> list[tuple[Key, datetime, tuple[float, ...]]]:
        closed = list(self._pending)
        self._pending.clear()
        return closed

    def interval_start(self, index: int) -> datetime:
        return datetime.fromtimestamp(index * self._interval_seconds, tz=UTC)

    def _index(self, at: datetime) -> int:
        return int(at.timestamp() // self._interval_seconds)

    def _dormant(self, state: _ForestState, index: int) -> bool:
        last = state.last_active_index
        return last is None or index - last > self.capacity

    def _add(
        self,
        key: Key,
        at: datetime,
        level: Level,
        template_id: str | None,
        latency: float | None,
    ) -> Firing | None:
        state = self.state(key)
        index = self._index(at)
        # One interval and the empty ones after it all score alike but the first, so a batch
        # closed by one record crosses into "anomalous" at most once.
        firings = self._close_before(key, state, index)
        if self._dormant(state, index):
            state = self._states[key] = self.new_state()
        if state.current is None:
            state.current = _Interval(index)
        # A record older than the current interval (several pods, slightly out of order) is
        # counted in the current one rather than lost.
        current = state.current
        current.records += 1
        current.by_level[level] = current.by_level.get(level, 0) + 1
        if template_id is not None:
            current.templates.add(template_id)
        if latency is not None and math.isfinite(latency):
            current.latencies.append(latency)
        if state.last_active_index is None or state.last_active_index < index:
            state.last_active_index = index
        return firings[0] if firings else None

    def _close_before(self, key: Key, state: _ForestState, index: int) -> list[Firing]:
        current = state.current
        if current is None or index <= current.index:
            return []
        last_active = current.index if state.last_active_index is None else state.last_active_index
        empty_until = min(index, last_active + self.capacity + 1)
        empty = self._features_of(_Interval(0))
        closed = [_ClosedInterval(current.index, self._features_of(current), current.records)]
        closed += [_ClosedInterval(i, empty, 0) for i in range(current.index + 1, empty_until)]
        state.current = _Interval(index)
        self._pending.extend((key, self.interval_start(c.index), c.features) for c in closed)
        firings = self._score(key, state, closed)
        self._learn(state, [c.features for c in closed])
        return firings

    def _score(self, key: Key, state: _ForestState, closed: list[_ClosedInterval]) -> list[Firing]:
        model = state.model
        if model is None:
            state.crossing.crossed(False)
            return []
        scores = model.scorer.decision_function([c.features for c in closed])
        firings = []
        for interval, score in zip(closed, scores, strict=True):
            outside, which = model.outside_range(interval.features)
            beyond = outside > BEYOND_BASELINE_RANGES
            if not state.crossing.crossed(score < 0 or beyond):
                continue
            end = self.interval_start(interval.index + 1)
            if score < 0:
                firing = Firing(key, end, "anomalyScore", float(score), 0.0, interval.records)
            else:
                firing = Firing(
                    key,
                    end,
                    "beyondBaseline",
                    outside,
                    BEYOND_BASELINE_RANGES,
                    interval.records,
                    detail=self.feature_names[which],
                )
            firings.append(firing)
        return firings

    def _learn(self, state: _ForestState, vectors: list[tuple[float, ...]]) -> None:
        state.baseline.extend(vectors)
        state.added_since_training += len(vectors)
        if len(state.baseline) < self.params.min_baseline_intervals:
            return
        grown = state.added_since_training * RETRAIN_GROWTH_DIVISOR >= state.trained_on
        if state.model is not None and not grown:
            return
        state.model = self._train(state.baseline)
        state.trained_on = len(state.baseline)
        state.added_since_training = 0

    def _train(self, baseline: Iterable[tuple[float, ...]]) -> _Model:
        # Imported here, not at the top: scikit-learn (with numpy and scipy) costs ~80 MB of RSS,
        # which processors whose rules have no isolation forest must not pay.
        from sklearn.ensemble import IsolationForest

        rows = list(baseline)
        forest = IsolationForest(
            n_estimators=self.params.estimators,
            contamination=self.params.contamination,
            random_state=RANDOM_STATE,
        )
        forest.fit(rows)
        columns = list(zip(*rows, strict=True))
        return _Model(
            scorer=forest,
            low=tuple(min(column) for column in columns),
            high=tuple(max(column) for column in columns),
        )

    def _feature_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for feature in self.features:
            if feature is IsolationFeature.COUNT_BY_LEVEL:
                names.extend(f"count.{level.value}" for level in Level)
            elif feature is IsolationFeature.LATENCY_PERCENTILES:
                names.extend(f"latency.p{percent:g}" for percent in LATENCY_PERCENTILES)
            else:
                names.append(feature.value)
        return tuple(names)

    def _features_of(self, interval: _Interval) -> tuple[float, ...]:
        values: list[float] = []
        for feature in self.features:
            if feature is IsolationFeature.COUNT_BY_LEVEL:
                values.extend(float(interval.by_level.get(level, 0)) for level in Level)
            elif feature is IsolationFeature.DISTINCT_TEMPLATES:
                values.append(float(len(interval.templates)))
            elif feature is IsolationFeature.ERROR_RATIO:
                errors = sum(
                    count
                    for level, count in interval.by_level.items()
                    if level.rank >= Level.ERROR.rank
                )
                values.append(errors / interval.records if interval.records else 0.0)
            else:
                latencies = sorted(interval.latencies)
                values.extend(_nearest_rank(latencies, p) for p in LATENCY_PERCENTILES)
        return tuple(values)


def _nearest_rank(ordered: list[float], percent: float) -> float:
    """The smallest value with at least percent % at or below it; 0 without values."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(len(ordered) * percent / 100))
    return ordered[rank - 1]
