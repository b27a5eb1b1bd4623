"""Exceptions with messages meant for the person running the stack."""

from __future__ import annotations

from pathlib import Path


class StackError(RuntimeError):
    """A component could not be built, started or checked; the message says why."""


class MissingPrerequisite(StackError):  # noqa: N818 - reads better at the raise site
    """A tool the stack needs (Go, Java, Maven, openssl) is not installed."""


def with_log(message: str, log_file: Path, tail_lines: int = 25) -> StackError:
    """Build a StackError naming ``log_file`` and quoting its last lines."""
    tail = ""
    try:
        lines = log_file.read_text(errors="replace").splitlines()[-tail_lines:]
        tail = "\n".join("    " + line for line in lines)
    except OSError:
        tail = "    (log file not readable)"
    return StackError(f"{message}\n  log: {log_file}\n  last lines:\n{tail}")
