"""The one retry pause: doubling from the first delay, capped, reset by a success."""

from __future__ import annotations

from datetime import timedelta

import pytest

from logsentinel.backoff import MAX_DOUBLINGS, Backoff


def test_pauses_double_up_to_the_ceiling_and_a_success_starts_again() -> None:
    backoff = Backoff(timedelta(milliseconds=200), timedelta(seconds=1))
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.failures == 5
    backoff.reset()
    assert backoff.next() == 0.2


def test_a_very_late_attempt_pauses_the_ceiling() -> None:
    assert Backoff(0.5, 30).delay(MAX_DOUBLINGS * 10) == 30


def test_jitter_spreads_each_pause_within_its_fraction() -> None:
    backoff = Backoff(1, 1, jitter=0.25)
    pauses = [backoff.next() for _ in range(200)]
    assert all(0.75 <= pause <= 1.25 for pause in pauses)
    assert len(set(pauses)) > 1


@pytest.mark.parametrize(("initial", "ceiling", "jitter"), [(0, 1, 0), (2, 1, 0), (1, 2, 1.0)])
def test_nonsense_settings_are_refused(initial: float, ceiling: float, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"initial|jitter"):
        Backoff(initial, ceiling, jitter=jitter)
