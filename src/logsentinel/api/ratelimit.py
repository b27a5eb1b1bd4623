"""Token buckets per identity (requests), and the login limits per client and per account, in
memory.

One API process enforces its own limits; with several replicas each enforces them, which bounds
the total at replicas times the limit (documented; a shared store would be needed for more).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from logsentinel.api.identities import Remembered


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """rate tokens per second, up to burst; take() answers 0 or the seconds to wait."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def _refilled(self, key: Hashable, now: float) -> _Bucket:
        """The key's bucket brought up to now (call with the lock held)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > 100_000:
                self._forget_full(now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _wait(self, bucket: _Bucket) -> float:
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def take(self, key: Hashable) -> float:
        """0 when allowed now (a token is taken); otherwise how many seconds until one is."""
        with self._lock:
            bucket = self._refilled(key, self.clock())
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return self._wait(bucket)

    def wait(self, key: Hashable) -> float:
        """Like take(), without taking: 0 when a token is there."""
        with self._lock:
            return self._wait(self._refilled(key, self.clock()))

    def charge(self, key: Hashable) -> None:
        """Take a token even when none is left (down to -burst): events counted after the fact,
        like failures, keep the bucket empty for as long as they go on above the rate."""
        with self._lock:
            bucket = self._refilled(key, self.clock())
            bucket.tokens = max(-self.burst, bucket.tokens - 1)

    def _forget_full(self, now: float) -> None:
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


def per_minute(attempts: int, clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    """attempts a minute, all of them at once if need be."""
    return RateLimiter(attempts / 60, attempts, clock)


class LoginLimits:
    """Who may try a password now. Three limits, none of which lets an attacker lock the owner
    of an account out:

    - per client address, across usernames: one client spraying a password over many accounts;
    - per (username, client address): one client guessing one account's password. An attacker
      elsewhere uses up its own bucket, not the owner's;
    - per username, failures from every client: many clients guessing one account's password.
      Past this ceiling the account is guarded: a client that has logged in as that user
      before (in this process, within `known_for` seconds) keeps its usual limits, and any
      other gets one attempt a minute. Many clients are slowed to a guess a minute each; the
      owner, from anywhere, is slowed at worst, never refused for good.

    Client addresses come from the connection, or from X-Forwarded-For when the connection comes
    from a trusted proxy (LOGSENTINEL_TRUSTED_PROXIES, applied by uvicorn's ProxyHeadersMiddleware).
    """

    def __init__(
        self,
        per_client: int,
        per_account_and_client: int,
        account_failures: int,
        known_for: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = per_minute(per_client, clock)
        self.pairs = per_minute(per_account_and_client, clock)
        self.failures = per_minute(account_failures, clock)
        self.guarded = per_minute(1, clock)
        self.known: Remembered[bool] = Remembered(known_for)

    def admit(self, username: str, client: str) -> float:
        """0 when this attempt may go ahead; otherwise the seconds to wait (Retry-After)."""
        pair = (username, client)
        wait = self.clients.take(client) or self.pairs.take(pair)
        if wait:
            return wait
        if self.failures.wait(username) and not self.known.get(repr(pair))[0]:
            return self.guarded.take(pair)
        return 0.0

    def failed(self, username: str) -> None:
        self.failures.charge(username)

    def succeeded(self, username: str, client: str) -> None:
        self.known.put(repr((username, client)), True)


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
