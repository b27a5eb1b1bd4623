"""Bounded shutdown: after SIGTERM or SIGINT the process exits within its grace period.

The first signal asks the processor to stop and starts a watchdog. When the grace period runs
out first (a statement that does not return, an unreachable database or Kafka, a thread that
does not end), the watchdog logs ``gave up waiting`` with where each thread is, and exits with
status 1 without waiting for anything; a second signal does the same at once. Should no Python
thread get to run at all (an extension holding the interpreter lock), faulthandler dumps every
thread's stack and exits with status 1 BACKSTOP_SECONDS after the grace period.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import NoReturn

import structlog

log = structlog.get_logger("logsentinel.processors")

EXIT_GAVE_UP = 1
BACKSTOP_SECONDS = 2.0
PACKAGE = str(Path(__file__).resolve().parents[1])


class GracePeriod:
    """Stops the process on SIGTERM/SIGINT through stop(), and ends it when that takes too long."""

    def __init__(self, grace: timedelta, stop: Callable[[], None]) -> None:
        self.grace = grace.total_seconds()
        self._stop = stop
        self._watchdog: threading.Timer | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._signalled)
        signal.signal(signal.SIGINT, self._signalled)

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._watchdog is not None:
            give_up(f"second {name}")
        log.info("stopping", signal=name, grace_s=self.grace)
        self._watchdog = threading.Timer(self.grace, give_up, args=("grace period over",))
        self._watchdog.name = "shutdown-watchdog"
        self._watchdog.daemon = True
        self._watchdog.start()
        faulthandler.dump_traceback_later(self.grace + BACKSTOP_SECONDS, exit=True)
        self._stop()


def give_up(reason: str) -> NoReturn:
    """Log what the process is still waiting for and exit with EXIT_GAVE_UP at once."""
    log.error(
        "gave up waiting for the shutdown; exiting",
        reason=reason,
        exit_status=EXIT_GAVE_UP,
        threads=_where_threads_are(),
    )
    sys.stderr.flush()
    os._exit(EXIT_GAVE_UP)


def _where_threads_are() -> dict[str, str]:
    """Each other thread's innermost frame in this package (else its innermost frame)."""
    frames = sys._current_frames()
    where: dict[str, str] = {}
    for thread in threading.enumerate():
        frame = frames.get(thread.ident) if thread.ident is not None else None
        if frame is None or thread is threading.current_thread():
            continue
        stack = traceback.extract_stack(frame)
        ours = [entry for entry in stack if entry.filename.startswith(PACKAGE)]
        entry = (ours or stack)[-1]
        where[thread.name] = f"{Path(entry.filename).name}:{entry.lineno} in {entry.name}"
    return where
