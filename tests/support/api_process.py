"""`logsentinel api` as a process of its own on loopback, for tests about what only the real
server does: client addresses as uvicorn sees them, proxies, concurrent floods."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.proc import free_port, wait_until


@dataclass(frozen=True)
class RunningApi:
    base: str
    pid: int
    """Leader of a process group of its own, so that its memory can be measured alone."""
    log: Path


@contextmanager
def api_process(
    database_url: str,
    directory: Path,
    admin: tuple[str, str],
    environment: dict[str, str] | None = None,
) -> Iterator[RunningApi]:
    """A running API (listening on all loopback addresses, so that clients can connect from
    127.0.0.2 and the like); its output is in directory/api-<port>.log."""
    port = free_port()
    variables = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": database_url,
        "LOGSENTINEL_JWT_SECRET": "process-secret-" + "x" * 40,
        "LOGSENTINEL_ADMIN_USERNAME": admin[0],
        "LOGSENTINEL_ADMIN_PASSWORD": admin[1],
        "LOGSENTINEL_HOST": "0.0.0.0",
        "LOGSENTINEL_PORT": str(port),
        "LOGSENTINEL_MANIFESTS_DIRECTORY": str(directory / "manifests"),
        "LOGSENTINEL_LOG_LEVEL": "warning",
        **(environment or {}),
    }
    variables.pop("LOGSENTINEL_KAFKA_BOOTSTRAP", None)  # ingest into PostgreSQL
    log_path = directory / f"api-{port}.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "logsentinel"), "api"],
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_until(
                f"the API answers /healthz (log: {log_path})",
                healthy,
                60,
                failure=AssertionError,
                alive=lambda: process.poll() is None,
            )
            yield RunningApi(base, process.pid, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def client_from(base: str, address: str, timeout: float = 60) -> httpx.Client:
    """An HTTP client whose connections come from this loopback address (127.0.0.0/8)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base, transport=transport, timeout=timeout)
