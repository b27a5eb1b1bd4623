"""The product's one retry pause: exponential backoff, doubling from a first delay up to a
ceiling, with optional jitter. Pure arithmetic; the callers sleep or wait themselves."""

from __future__ import annotations

import random
from datetime import timedelta

MAX_DOUBLINGS = 32
"""Past this many doublings every pause is the ceiling (and 2**n stays a small float)."""


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Backoff:
    """Pauses between failed attempts: ``initial``, twice that, ... at most ``ceiling``
    (seconds or timedeltas). ``jitter`` spreads each pause by up to that fraction either way,
    so that many clients failing together do not retry together."""

    def __init__(
        self, initial: float | timedelta, ceiling: float | timedelta, *, jitter: float = 0.0
    ) -> None:
        self.initial = _seconds(initial)
        self.ceiling = _seconds(ceiling)
        if not 0 < self.initial <= self.ceiling:
            raise ValueError(f"backoff needs 0 < initial <= ceiling, got {initial}, {ceiling}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.jitter = jitter
        self.failures = 0

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based), without jitter."""
        doublings = min(max(attempt - 1, 0), MAX_DOUBLINGS)
        return float(min(self.initial * 2.0**doublings, self.ceiling))

    def next(self) -> float:
        """Count one more failure and return the pause before the next attempt."""
        self.failures += 1
        pause = self.delay(self.failures)
        if self.jitter:
            pause *= 1 - self.jitter + 2 * self.jitter * random.random()
        return pause

    def reset(self) -> None:
        """After a success: the next failure pauses ``initial`` again."""
        self.failures = 0
