"""The Compose remediator's loop: incidents advanced on worker threads, a slow one not holding
the others up, never two steps at once for one incident, looked at again when the engine says,
and released when they are no longer open. (The remediator itself is faked here; tests/compose
runs the real one on a Docker engine.)"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

from logsentinel.operator.compose import ComposeLoop

Key = tuple[str, str]


class FakeEngine:
    def __init__(self) -> None:
        self.released: list[str] = []

    def release(self, incident: str) -> None:
        self.released.append(incident)


class FakeRemediator:
    """Steps answer from a script per incident; the incident "slow" blocks until let go."""

    def __init__(self, delays: dict[str, list[float | None]]) -> None:
        self.delays = delays
        self.engine = FakeEngine()
        self.calls: list[str] = []
        self.slow_started = threading.Event()
        self.let_slow_go = threading.Event()
        self.active: set[str] = set()
        self.overlaps = 0
        self.lock = threading.Lock()

    def step(self, namespace: str, name: str, playbooks: Sequence[Any]) -> float | None:
        with self.lock:
            self.overlaps += name in self.active
            self.active.add(name)
            self.calls.append(name)
        try:
            if name == "slow":
                self.slow_started.set()
                assert self.let_slow_go.wait(10)
            return self.delays[name].pop(0) if self.delays[name] else None
        finally:
            with self.lock:
                self.active.discard(name)


class NoPlaybooks:
    def playbooks(self) -> list[Any]:
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def loop_over(remediator: FakeRemediator, listed: list[Key], clock: Clock) -> ComposeLoop:
    loop = ComposeLoop(
        cast(Any, remediator), cast(Any, NoPlaybooks()), cast(Any, None), 2.0, 10.0,
        workers=4, clock=clock,
    )  # fmt: skip
    loop.open_incidents = lambda: list(listed)  # type: ignore[method-assign]
    return loop


def test_a_slow_incident_does_not_hold_up_the_others_nor_runs_twice() -> None:
    remediator = FakeRemediator({"slow": [None], "quick": [0, 0, 3.0]})
    clock = Clock()
    listed = [("shop", "slow"), ("shop", "quick")]
    loop = loop_over(remediator, listed, clock)
    try:
        assert loop.round() == 2
        assert remediator.slow_started.wait(5)
        assert not loop.idle(0.2), "the slow step still runs"
        assert remediator.calls.count("quick") == 3, "0 means: step again at once"
        clock.now += 5
        assert loop.round() == 1, "quick is due again; slow is still running"
        remediator.let_slow_go.set()
        assert loop.idle(5)
        assert remediator.overlaps == 0
        assert loop.due[("shop", "slow")] == clock.now + 10.0, "None: the idle poll"
    finally:
        remediator.let_slow_go.set()
        loop.close()


def test_incidents_wait_until_due_and_are_released_once_closed() -> None:
    remediator = FakeRemediator({"a": [4.0, 4.0]})
    clock = Clock()
    listed = [("shop", "a")]
    loop = loop_over(remediator, listed, clock)
    try:
        loop.round()
        assert loop.idle(5)
        assert loop.round() == 0, "not due for 4 s"
        assert loop.next_due() == 2.0, "never longer than the poll"
        clock.now += 4
        assert loop.round() == 1
        assert loop.idle(5)
        listed.clear()
        loop.round()
        assert remediator.engine.released == ["shop/a"]
        assert loop.due == {}
    finally:
        loop.close()
