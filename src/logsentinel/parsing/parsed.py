"""What a message parser extracts from one log line."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import JsonValue

from logsentinel.domain import Level


@dataclass(slots=True)
class ParsedMessage:
    """The parts of a line; None means "the line did not say", never "unknown"."""

    message: str
    format: str
    """Which parser understood the line: json, logfmt, access, leveled, klog, plain, custom:X."""
    level: Level | None = None
    timestamp: datetime | None = None
    time_written: JsonValue = None
    """The time field as the line wrote it (``0.25``, ``"2199-01-01T00:00:00Z"``), when known."""
    trace_id: str | None = None
    attributes: dict[str, JsonValue] = field(default_factory=dict)
    template_source: str | None = None
    """The text templates are mined from when it is not the message (access logs, traces)."""
