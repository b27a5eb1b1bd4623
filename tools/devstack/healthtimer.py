"""Runs the containers' health checks on Podman, as Docker's daemon does on Docker.

Podman schedules ``podman healthcheck run`` with systemd timers. This machine has no systemd, so
without this process no check would ever run, every container with a health check would stay
``starting``, and Compose would wait forever on ``condition: service_healthy``.

The process follows the engine's events (``podman events``, which reads the same events file as
the API service): each started container that has a health check gets its first check
``interval`` after it started and each next one ``interval`` after the previous one ended
(Docker's schedule; Podman 4.3 knows no ``start_interval``), until the container stops.
``podman healthcheck run`` runs the check in the container and records the result (status,
failing streak, log) in the container's state, where the Docker API reads it. Containers that
already run when the process starts are picked up from ``podman ps``.

Run as ``python -m devstack.healthtimer READY_FILE`` (the ``compose`` component starts it): it
creates READY_FILE once it follows the events; SIGTERM stops it.
"""

from __future__ import annotations

import heapq
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

DEFAULT_INTERVAL = 30.0
"""Docker's default interval, for a health check that sets none."""
RUN_GRACE = 10.0
"""Seconds ``podman healthcheck run`` may take beyond the check's own timeout."""
STARTED = frozenset({"start", "restart"})
ENDED = frozenset({"died", "stop", "kill", "remove", "cleanup", "exited"})


def say(message: str, **fields: object) -> None:
    """One line on stdout (the daemon's log file)."""
    details = " ".join(f"{key}={value}" for key, value in fields.items())
    print(f"{time.strftime('%H:%M:%S')} {message} {details}".rstrip(), flush=True)


@dataclass
class Check:
    """A container's health check schedule."""

    container: str
    name: str
    interval: float
    timeout: float
    generation: int
    last_status: str = ""


class Timer:
    """The schedule of every tracked container's next check, and the runs."""

    def __init__(self, podman: str) -> None:
        self.podman = podman
        self.checks: dict[str, Check] = {}
        self.due: list[tuple[float, int, str]] = []  # (when, generation, container)
        self.generations = 0
        self.changed = threading.Condition()
        self.stopping = False

    def _podman(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.podman, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def started(self, container: str) -> None:
        """Track a container that started, when it has a health check."""
        done = self._podman("inspect", "--format", "json", container)
        if done.returncode != 0:
            return  # gone again already
        try:
            state = json.loads(done.stdout)[0]
        except (ValueError, IndexError):
            return
        health = (state.get("Config") or {}).get("Healthcheck") or {}
        test = health.get("Test") or []
        if not test or test[0] == "NONE":
            return
        interval = (health.get("Interval") or 0) / 1e9 or DEFAULT_INTERVAL
        timeout = (health.get("Timeout") or 0) / 1e9 or DEFAULT_INTERVAL
        name = str(state.get("Name") or container[:12])
        with self.changed:
            self.generations += 1
            check = Check(container, name, interval, timeout, self.generations)
            self.checks[container] = check
            heapq.heappush(self.due, (time.monotonic() + interval, check.generation, container))
            self.changed.notify()
        say("tracking", container=name, interval=f"{interval:g}s")

    def ended(self, container: str) -> None:
        """Stop checking a container that stopped or was removed."""
        with self.changed:
            check = self.checks.pop(container, None)
        if check is not None:
            say("untracked", container=check.name)

    def run_forever(self) -> None:
        """Start each check when it is due, each in its own thread."""
        while True:
            with self.changed:
                while not self.stopping:
                    now = time.monotonic()
                    if self.due and self.due[0][0] <= now:
                        break
                    self.changed.wait(timeout=self.due[0][0] - now if self.due else None)
                if self.stopping:
                    return
                _, generation, container = heapq.heappop(self.due)
                check = self.checks.get(container)
                if check is None or check.generation != generation:
                    continue  # untracked, or restarted with a new schedule
            threading.Thread(target=self._run, args=(check,), daemon=True).start()

    def _run(self, check: Check) -> None:
        try:
            done = self._podman(
                "healthcheck", "run", check.container, timeout=check.timeout + RUN_GRACE
            )
            status = {0: "healthy", 1: "unhealthy"}.get(done.returncode, "error")
            detail = (done.stdout + done.stderr).strip().splitlines()
        except subprocess.TimeoutExpired:
            status, detail = "error", ["podman healthcheck run did not return"]
        if status != check.last_status:
            say(status, container=check.name, detail=(detail or [""])[-1][:200])
            check.last_status = status
        with self.changed:
            if self.checks.get(check.container) is check:
                when = time.monotonic() + check.interval
                heapq.heappush(self.due, (when, check.generation, check.container))
                self.changed.notify()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devstack.healthtimer READY_FILE", file=sys.stderr)
        return 2
    ready = Path(argv[0])
    podman = shutil.which("podman")
    if podman is None:
        print("podman is not on PATH", file=sys.stderr)
        return 2
    timer = Timer(podman)
    # events first, then the containers already running: a container starting in between is
    # seen twice (tracking it again only renews its schedule), never missed
    events = subprocess.Popen(
        [podman, "events", "--format", "json", "--filter", "type=container"],
        stdout=subprocess.PIPE,
        text=True,
    )

    def terminate(_signal: int, _frame: FrameType | None) -> None:
        timer.stop()
        events.terminate()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    running = subprocess.run(
        [podman, "ps", "--quiet", "--no-trunc"], capture_output=True, text=True, check=False
    )
    scheduler = threading.Thread(target=timer.run_forever, daemon=True)
    scheduler.start()
    for container in running.stdout.split():
        timer.started(container)
    ready.touch()
    say("ready", running=len(running.stdout.split()))
    assert events.stdout is not None
    for line in events.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        container, status = str(event.get("ID", "")), str(event.get("Status", ""))
        if status in STARTED:
            timer.started(container)
        elif status in ENDED:
            timer.ended(container)
    timer.stop()
    events.wait()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
