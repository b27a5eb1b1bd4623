"""Disk full on the database volume: the scenario runs the chain against a PostgreSQL of its own
whose whole directory is a small tmpfs, fills that filesystem while the sample app logs, and
checks that the processors stop acknowledging, say why, and store everything once space
returns. (The stack's shared PostgreSQL is not touched.)"""

from __future__ import annotations

import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.postgres import Postgres
from devstack.pytest_plugin import Kubectl
from support.chaos import RECOVERY_TIMEOUT, Chain, Outcome, outage_stored, settle
from support.running import eventually

pytestmark = [pytest.mark.node, pytest.mark.chaos]

VOLUME_MB = 256
"""The database's whole filesystem: PostgreSQL's files take about 90 MB of it."""
DISK_FULL_S = 30
NO_SPACE = "No space left on device"


def _mount_tmpfs(path: Path, megabytes: int) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the database (needs root): {done.stderr.strip()}")


@pytest.fixture(scope="module")
def small_postgres() -> Iterator[Postgres]:
    """A PostgreSQL of this module on a VOLUME_MB filesystem of its own."""
    server = Postgres("postgres-small")
    server.stop()
    if server.state.is_mount():
        subprocess.run(["umount", str(server.state)], check=True)
    _mount_tmpfs(server.state, VOLUME_MB)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        subprocess.run(["umount", "--lazy", str(server.state)], check=False)


@pytest.fixture
def database_url(small_postgres: Postgres) -> str:
    """The scenario's database: the small server's own (gone with the server)."""
    return small_postgres.address()


@pytest.fixture
def pod_database_url(small_postgres: Postgres) -> str:
    pod_url = small_postgres.pod_url()
    if pod_url is None:
        pytest.fail("the small PostgreSQL has no address for pods: start the stack with make up")
    return pod_url


def _fill(path: Path) -> int:
    """Write ``path`` until its filesystem is full; the bytes written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with path.open("wb", buffering=0) as sink:
        while True:
            try:
                written += sink.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                return written


def test_database_disk_full_processors_stop_acknowledging_then_resume(
    kubectl: Kubectl, chain: Chain, small_postgres: Postgres, chaos_outcome: Outcome
) -> None:
    filler = small_postgres.state / "filler"
    filled = _fill(filler)
    try:
        eventually(
            "the processors say the database's disk is full",
            lambda: NO_SPACE in chain.processor_logs(kubectl),
            RECOVERY_TIMEOUT,
        )
        # The disk stays full a while as the app keeps writing (the fault, not a wait).
        time.sleep(DISK_FULL_S)
    finally:
        filler.unlink()
    outage_stored(kubectl, chain, chaos_outcome, DISK_FULL_S)
    print(f"filled {filled / 2**20:.0f} MiB")
    assert chain.dead_letters() == 0, "good records were set aside while the disk was full"
    assert "consumption resumed" in chain.processor_logs(kubectl)
    settle(kubectl, chain, chaos_outcome)
