"""Structured, one-line log records on stderr (``devstack <level> <event> key=value ...``)."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def _fmt(value: object) -> str:
    text = str(value)
    if text == "" or any(c.isspace() or c in '"=' for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def emit(level: str, event: str, **fields: object) -> None:
    """Write one record: elapsed seconds since start, level, event name and fields."""
    parts = [f"devstack t={time.monotonic() - _START:7.1f}s", level, event]
    parts += [f"{key}={_fmt(value)}" for key, value in fields.items()]
    print(" ".join(parts), file=sys.stderr, flush=True)


def info(event: str, **fields: object) -> None:
    """Log a normal progress record."""
    emit("INFO", event, **fields)


def warn(event: str, **fields: object) -> None:
    """Log something unexpected that the stack can live with."""
    emit("WARN", event, **fields)
