"""A rule's stored bucket as detectors restore it (rule and key do not matter to them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from logsentinel.domain.bucket import RuleBucket


def stored_bucket(
    start: datetime,
    matched: int,
    total: int,
    features: tuple[float, ...] = (),
    width: timedelta = timedelta(minutes=1),
) -> RuleBucket:
    return RuleBucket("shop/rule", (), start, width, matched, total, features)
