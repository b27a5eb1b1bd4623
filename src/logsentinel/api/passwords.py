"""Password work (argon2 checks and hashes, and a login's user lookup) on a few threads of its
own, with a bounded backlog.

argon2 is slow and memory-hungry on purpose (64 MiB a check by default): on the event loop it
would stall every request, on the shared thread pool a flood of logins would take all of its
threads, and holding a database connection meanwhile would empty the pool. Here at most
`workers` jobs run at once and at most `queue` more wait; past that a caller gets OverloadedError
(answered 503 with Retry-After) at once. A job counts until its thread has finished it, so
clients that hang up do not make room for more work than the threads can do.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class OverloadedError(Exception):
    """Too many password jobs pending; retry_after estimates when there is room (seconds)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many logins at once")
        self.retry_after = retry_after


class PasswordWorkers:
    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="passwords")
        self._pending = 0
        self._seconds_per_job = 0.25  # a first guess, then a moving average of real jobs
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        with self._lock:
            return self._pending >= self.capacity

    def _retry_after(self) -> float:
        return self._pending * self._seconds_per_job / self.workers

    async def run(self, function: Callable[[], T]) -> T:
        """function() on a password thread; OverloadedError when the backlog is full."""
        with self._lock:
            if self._pending >= self.capacity:
                raise OverloadedError(self._retry_after())
            self._pending += 1
        try:
            future = self._executor.submit(self._timed, function)
        except BaseException:
            self._done()
            raise
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def _timed(self, function: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return function()
        finally:
            elapsed = time.monotonic() - started
            with self._lock:
                self._seconds_per_job = 0.9 * self._seconds_per_job + 0.1 * elapsed

    def _done(self, _: object = None) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
