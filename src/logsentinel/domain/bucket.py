"""The per-interval aggregate of a rule: one type from the engine to storage and back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RuleBucket:
    """A rule's counts for one group key in [start, start + width).

    The engine emits them as intervals close, storage adds them up (``rule_buckets``), a
    processor that takes over a partition restores its detectors' baselines from them, and
    remediation judges whether the signal recovered with them.
    """

    rule: str
    """``namespace/name`` of the DetectionRule."""
    key: tuple[str, ...]
    """The group key's values, in the order of the rule's groupBy."""
    start: datetime
    width: timedelta
    matched: int
    """Records the rule matched."""
    total: int
    """Records the rule selected (matched or not)."""
    features: tuple[float, ...] = ()
    """What a feature-based detector computed for the interval (empty otherwise)."""
    source: tuple[str, int] | None = None
    """The Kafka topic and partition the counted records came from."""
