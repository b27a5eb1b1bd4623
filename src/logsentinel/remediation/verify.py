"""Is the log signal that fired a rule back under its threshold? Decided on stored aggregates.

The processors store per-rule, per-key counts in fixed buckets (storage.buckets). After a fix,
the signal counts as recovered once at least one full rule window of complete buckets lies after
the fix and no window-sized run of them reaches the level that fired:

- ``count`` (threshold rules): matched records in the window below the threshold;
- ``ratio``: matched / total below the threshold, with traffic (no traffic proves nothing);
- anything else (z-score, EWMA, latency, ...): the bucket counts cannot replay the detector, so
  matched records per window must fall below half of what they were when the rule fired.

Buckets that are absent count as zero, which is only true while the pipeline is healthy: callers
check pipeline health first, because missing data looks like recovery.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.incident import WindowStatistics


@dataclass(frozen=True)
class Verdict:
    """recovered is None while it is too early to tell."""

    recovered: bool | None
    message: str


def assess(
    buckets: Sequence[RuleBucket],
    fired: WindowStatistics | None,
    rule_window: timedelta,
    since: datetime,
    complete_before: datetime,
) -> Verdict:
    """Judge the buckets starting at or after since and ending before complete_before."""
    if not buckets and complete_before <= since:
        return Verdict(None, "no complete interval since the fix yet")
    width = buckets[0].width if buckets else timedelta(seconds=10)
    seconds = width.total_seconds()
    first = math.ceil(since.timestamp() / seconds)
    last = math.floor(complete_before.timestamp() / seconds)  # exclusive
    per_window = max(1, math.ceil(rule_window / width))
    if last - first < per_window:
        return Verdict(None, f"waiting for a full {_span(rule_window)} of data after the fix")
    by_index = {int(b.start.timestamp() // seconds): b for b in buckets}
    runs = [
        [by_index.get(index) for index in range(start, start + per_window)]
        for start in range(first, last - per_window + 1)
    ]
    worst_matched = 0
    worst_ratio = 0.0
    traffic = 0
    for run in runs:
        matched = sum(b.matched for b in run if b is not None)
        total = sum(b.total for b in run if b is not None)
        traffic += total
        worst_matched = max(worst_matched, matched)
        if total:
            worst_ratio = max(worst_ratio, matched / total)
    span = _span(timedelta(seconds=(last - first) * seconds))
    statistic = fired.statistic if fired is not None else "count"
    if fired is not None and statistic == "count":
        below = worst_matched < fired.threshold
        return Verdict(
            below,
            f"at most {worst_matched} matching records per {_span(rule_window)} over the "
            f"{span} since the fix (fired at {fired.threshold:g})",
        )
    if fired is not None and statistic == "ratio":
        if traffic == 0:
            return Verdict(None, f"no traffic in the {span} since the fix: cannot judge a ratio")
        return Verdict(
            worst_ratio < fired.threshold,
            f"matching ratio at most {worst_ratio:.3f} over the {span} since the fix "
            f"(fired above {fired.threshold:g})",
        )
    level = fired.matched if fired is not None else 1
    return Verdict(
        worst_matched < max(1.0, level / 2),
        f"at most {worst_matched} matching records per {_span(rule_window)} over the {span} "
        f"since the fix ({level} when the rule fired)",
    )


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
