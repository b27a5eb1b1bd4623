"""Login limits (per client, per account and client, the per-account ceiling) on a fake clock,
and the password threads' bounded backlog."""

from __future__ import annotations

import asyncio
import threading

import pytest

from logsentinel.api.passwords import OverloadedError, PasswordWorkers
from logsentinel.api.ratelimit import LoginLimits, RateLimiter


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
    workers = PasswordWorkers(workers=1, queue=1)
    release = threading.Event()

    def blocked() -> str:
        release.wait(10)
        return "done"

    async def scenario() -> None:
        first = asyncio.ensure_future(workers.run(blocked))
        second = asyncio.ensure_future(workers.run(blocked))
        for _ in range(3):  # let both be submitted
            await asyncio.sleep(0)
        with pytest.raises(OverloadedError) as refused:
            await workers.run(blocked)
        assert refused.value.retry_after > 0
        second.cancel()  # a caller that hung up: its job was queued, so it leaves at once
        for _ in range(3):
            await asyncio.sleep(0)
        third = asyncio.ensure_future(workers.run(blocked))
        first.cancel()  # this job runs on: its room comes back only when it ends
        for _ in range(3):
            await asyncio.sleep(0)
        with pytest.raises(OverloadedError):
            await workers.run(blocked)
        release.set()
        assert await third == "done"
        assert await workers.run(lambda: "after") == "after"

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        workers.close()
