"""Process helpers: prerequisites, free ports, polling with deadlines, logged build steps and
detached daemons tracked by pid files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import log
from devstack.errors import MissingPrerequisite, StackError, with_log

POLL_INTERVAL = 0.2
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def require_tool(name: str, purpose: str, hint: str) -> str:
    """Return the absolute path of ``name`` on PATH or fail with an actionable message."""
    found = shutil.which(name)
    if found is None:
        raise MissingPrerequisite(f"`{name}` is not on PATH; it is needed {purpose}. {hint}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def preferred_port(previous: object, taken: tuple[int, ...] = ()) -> int:
    """``previous`` when it is a port that is still free (keeps stored data and clients' config
    stable across restarts), otherwise a fresh free port; never one of ``taken``."""
    if isinstance(previous, int) and previous not in taken and not port_open(previous):
        return previous
    port = free_port()
    while port in taken:
        port = free_port()
    return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    *,
    failure: Callable[[str], StackError] = StackError,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until it returns True; raise ``failure(message)`` at the deadline, or at
    once when ``alive`` reports that the process being waited for has exited."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            if check():
                return
        except Exception as exc:
            last_error = f" (last probe error: {exc})"
        if alive is not None and not alive():
            raise failure(f"{what}: the process exited before it became healthy{last_error}")
        if time.monotonic() >= deadline:
            raise failure(f"{what}: not healthy after {timeout:.0f}s{last_error}")
        time.sleep(POLL_INTERVAL)


def run_logged(
    cmd: Sequence[str],
    *,
    log_file: Path,
    label: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    progress: Callable[[int], str] | None = None,
    heartbeat: float = 20.0,
    stdout_file: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Run a (possibly long) command, appending its output to ``log_file`` (only its stderr when
    ``stdout_file`` is given: stdout then goes there).

    Every ``heartbeat`` seconds a progress record is logged: ``progress(lines_so_far)`` when
    given, else the elapsed time; ``on_line`` sees every logged line as it arrives. A non-zero
    exit raises a StackError naming the log file.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_file.open("ab") as sink:
        sink.write(f"\n$ {' '.join(cmd)}\n".encode())
        sink.flush()
        out = stdout_file.open("wb") if stdout_file is not None else None
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out if out is not None else subprocess.PIPE,
            stderr=subprocess.PIPE if out is not None else subprocess.STDOUT,
        )
        if out is not None:
            out.close()
        stream = proc.stderr if out is not None else proc.stdout
        count = [0]

        def pump() -> None:
            assert stream is not None
            for line in stream:
                sink.write(line)
                sink.flush()
                count[0] += 1
                if on_line is not None:
                    on_line(line.decode(errors="replace").rstrip())

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while True:
            reader.join(timeout=heartbeat)
            if not reader.is_alive():
                break
            detail = progress(count[0]) if progress is not None else ""
            log.info(
                "progress", step=label, elapsed=f"{time.monotonic() - started:.0f}s", detail=detail
            )
        code = proc.wait()
    if code != 0:
        raise with_log(f"{label} failed with exit code {code}", log_file)
    log.info("step-done", step=label, seconds=f"{time.monotonic() - started:.1f}")


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)


@dataclass(frozen=True)
class Daemon:
    """A long-running server process with its log and pid file in ``directory``.

    The process runs in its own session (so it outlives the Python process that started it);
    the pid file stores the pid and the process start time so a recycled pid is never signalled.
    """

    name: str
    directory: Path

    @property
    def log_file(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.directory / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        """``<pid> <start ticks>`` of the running server."""
        return self.directory / f"{self.name}.pid"

    def start(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> int:
        """Start the server detached (as ``user`` when given), logging to ``log_file``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as sink:
            sink.write(f"\n$ {' '.join(cmd)}\n".encode())
            sink.flush()
            proc = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
            )
        _CHILDREN[proc.pid] = proc
        ticks = _start_ticks(proc.pid)
        self.pid_file.write_text(f"{proc.pid} {ticks}\n")
        log.info("started", process=self.name, pid=proc.pid, log=self.log_file)
        return proc.pid

    def pid(self) -> int | None:
        """The pid of the running server, or None when it is not running."""
        try:
            pid_text, ticks_text = self.pid_file.read_text().split()
            pid, ticks = int(pid_text), int(ticks_text)
        except (OSError, ValueError):
            return None
        _reap(pid)
        return pid if _start_ticks(pid) == ticks else None

    def alive(self) -> bool:
        """True while the server process exists."""
        return self.pid() is not None

    def memory_kib(self) -> tuple[int, int]:
        """(current RSS, sum of peak RSS) in KiB over the server's process group."""
        pid = self.pid()
        return (0, 0) if pid is None else group_memory_kib(pid)

    def fail(self, message: str) -> StackError:
        """A StackError for this server that names and quotes its log file."""
        return with_log(f"{self.name}: {message}", self.log_file)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Send ``sig`` (SIGTERM) to the server; SIGKILL its whole process group after
        ``timeout`` seconds if it is still running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        log.info("stopping", process=self.name, pid=pid, signal=sig.name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        if self.pid() is not None:
            log.warn("kill", process=self.name, pid=pid, reason=f"still running after {timeout}s")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_until(f"{self.name} exit after SIGKILL", lambda: self.pid() is None, 10)
        self.pid_file.unlink(missing_ok=True)


def group_memory_kib(pgid: int) -> tuple[int, int]:
    """Sum of VmRSS and of VmHWM (peak RSS) in KiB of the processes in process group ``pgid``."""
    rss = hwm = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return rss, hwm


def save_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` atomically as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def load_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object written by ``save_json``; None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
