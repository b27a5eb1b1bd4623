"""Login limits (per client, per account and client, the per-account ceiling) on a fake clock,
and the password threads' bounded backlog."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest
from fastapi import HTTPException

from logsentinel.api.ratelimit import LoginLimits, RateLimiter
from logsentinel.api.routes.auth import password_work


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limits(clock: Clock, client: int = 30, pair: int = 5, failures: int = 30) -> LoginLimits:
    return LoginLimits(client, pair, failures, known_for=3600, clock=clock)


def test_charging_past_empty_keeps_a_bucket_closed_for_longer() -> None:
    clock = Clock()
    bucket = RateLimiter(rate=1, burst=2, clock=clock)
    for _ in range(4):
        bucket.charge("k")
    assert bucket.wait("k") == pytest.approx(3), "two in debt: three seconds to one token"
    assert bucket.wait("k") == bucket.take("k"), "wait() takes nothing"
    for _ in range(10):
        bucket.charge("k")
    assert bucket.wait("k") == pytest.approx(3), "the debt stops at -burst"


def test_one_client_is_limited_per_account_and_across_accounts() -> None:
    clock = Clock()
    login = limits(clock, client=8, pair=3)
    assert [login.admit("root", "a") for _ in range(4)][3] > 0, "per account and client"
    assert login.admit("root", "b") == 0, "another client is not affected"
    # every attempt counts against the client, refused ones too: 4 used, 4 left
    sprayed = [login.admit(f"user-{n}", "a") for n in range(5)]
    assert sprayed[:4] == [0] * 4
    assert sprayed[4] > 0, "per client across usernames"
    clock.now += 60
    assert login.admit("user-x", "a") == 0, "the buckets refill"


def test_past_the_account_ceiling_new_clients_get_one_try_a_minute_known_ones_all() -> None:
    clock = Clock()
    login = limits(clock, failures=4)
    assert login.admit("root", "owner") == 0
    login.succeeded("root", "owner")
    for bot in ("b1", "b2", "b3", "b4"):
        assert login.admit("root", bot) == 0
        login.failed("root")
    assert login.admit("root", "b1") == 0, "one try past the ceiling"
    login.failed("root")
    assert login.admit("root", "b1") == pytest.approx(60)
    assert login.admit("root", "newcomer") == 0, "the owner on a new client is slowed, not shut out"
    assert login.admit("root", "newcomer") > 0
    assert [login.admit("root", "owner") for _ in range(3)] == [0, 0, 0], "a known client"
    assert login.admit("someone-else", "b2") == 0, "other accounts are not guarded"
    clock.now += 120  # failures stop: the ceiling refills (4 a minute, from one in debt)
    assert login.admit("root", "b3") == 0
    assert login.admit("root", "b3") == 0


def test_the_password_threads_refuse_past_their_backlog_and_count_jobs_until_done() -> None:
    threads = anyio.CapacityLimiter(1)
    started = threading.Event()
    release = threading.Event()

    def blocked() -> str:
        started.set()
        release.wait(10)
        return "done"

    async def refused() -> None:
        with pytest.raises(HTTPException) as refusal:
            await password_work(threads, 1, blocked)
        assert refusal.value.status_code == 503
        assert int((refusal.value.headers or {})["Retry-After"]) >= 1

    async def job(scope: anyio.CancelScope, outcome: list[str]) -> None:
        with scope:
            outcome.append(await password_work(threads, 1, blocked))

    async def scenario() -> None:
        running, queued, next_one = anyio.CancelScope(), anyio.CancelScope(), anyio.CancelScope()
        outcome: list[str] = []
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(job, running, outcome)
            assert await anyio.to_thread.run_sync(started.wait, 10), "the first job started"
            tasks.start_soon(job, queued, outcome)
            await anyio.wait_all_tasks_blocked()
            assert threads.statistics().tasks_waiting == 1
            await refused()
            queued.cancel()  # a caller that hung up while queued leaves the queue at once
            await anyio.wait_all_tasks_blocked()
            assert threads.statistics().tasks_waiting == 0
            tasks.start_soon(job, next_one, outcome)
            running.cancel()  # this job runs on: its thread comes back only when it ends
            await anyio.wait_all_tasks_blocked()
            assert threads.statistics().borrowed_tokens == 1
            await refused()
            release.set()
        assert outcome == ["done", "done"], "the running job ended despite its caller, the next ran"
        assert await password_work(threads, 1, lambda: "after") == "after"

    try:
        anyio.run(scenario)
    finally:
        release.set()
