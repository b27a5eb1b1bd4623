"""Helpers the latency benchmarks share: progress lines, kubectl, a fresh database, waiting on
a condition with a deadline, nearest-rank percentiles, a caught-up processor's heartbeats."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import psycopg

from logsentinel.storage import migrate
from logsentinel.storage.health import PartitionLag, write_heartbeats
from logsentinel.storage.urls import libpq_url


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def kubectl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def fresh_database(server_url: str, name: str) -> str:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = libpq_url(server_url).rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    return url


def wait_for(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)  # polling a condition with a deadline


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


class Heartbeats:
    """A caught-up processor's heartbeat, every second, so the pipeline-health guard passes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self._stop.is_set():
                write_heartbeats(connection, "bench", "logs", {0: PartitionLag(0, 0.0)})
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
