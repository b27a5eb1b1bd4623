"""Status conditions: the transition time moves only when the status flips."""

from __future__ import annotations

from datetime import UTC, datetime

from logsentinel.domain.common import MAX_CONDITION_MESSAGE, READY, wire_condition

EARLIER = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def test_a_status_that_holds_keeps_its_transition_time() -> None:
    first = wire_condition(READY, True, "Valid", "ok", generation=1, previous=[], now=EARLIER)
    again = wire_condition(READY, True, "Valid", "ok", generation=2, previous=[first], now=NOW)
    assert again["lastTransitionTime"] == first["lastTransitionTime"]
    assert again["observedGeneration"] == 2


def test_a_flip_moves_the_transition_time_and_a_long_message_is_cut() -> None:
    first = wire_condition(READY, True, "Valid", "ok", generation=1, previous=[], now=EARLIER)
    flipped = wire_condition(
        READY, False, "InvalidSpec", "x" * (MAX_CONDITION_MESSAGE + 10),
        generation=2, previous=[first], now=NOW,
    )  # fmt: skip
    assert flipped["status"] == "False"
    assert flipped["lastTransitionTime"] != first["lastTransitionTime"]
    assert len(flipped["message"]) == MAX_CONDITION_MESSAGE


def test_another_types_condition_does_not_lend_its_time() -> None:
    other = wire_condition("Degraded", True, "Lag", "", generation=1, previous=[], now=EARLIER)
    ready = wire_condition(READY, True, "Valid", "", generation=1, previous=[other], now=NOW)
    assert ready["lastTransitionTime"] != other["lastTransitionTime"]
