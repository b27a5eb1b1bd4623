"""Stack traces that Fluent Bit's multiline parsers joined into one record.

Recognised: Python tracebacks, Java/JVM and JavaScript traces (``at ...`` frames, including
``Caused by:`` chains) and Go panics. A trace sets the level to error (fatal for a Go panic)
when the line did not say, adds ``exception.type`` and ``exception.message``, and is templated
on its first line plus the exception type, so that frame lists (line numbers, lambdas) do not
multiply templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logsentinel.domain import Level

PYTHON_HEADER = "Traceback (most recent call last):"
SCAN_LIMIT = 64 * 1024
"""Only this much of a huge message is searched for a trace."""
MAX_EXCEPTION_MESSAGE = 1024

_FRAME = re.compile(r"^[ \t]+at \S", re.MULTILINE)
_GO_PANIC = re.compile(r"^panic: (?P<message>.*)$", re.MULTILINE)
_EXCEPTION_LINE = re.compile(
    r'(?:Caused by: |Exception in thread "[^"]*" |Uncaught )?'
    r"(?P<type>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?::\s*(?P<message>.*))?"
)


@dataclass(frozen=True, slots=True)
class StackTrace:
    """What a trace says about the failure."""

    exception_type: str | None
    exception_message: str | None
    level: Level
    template_source: str


def _exception_parts(line: str) -> tuple[str | None, str | None]:
    match = _EXCEPTION_LINE.fullmatch(line.strip())
    if match is None:
        return None, None
    message = match.group("message")
    return match.group("type"), message[:MAX_EXCEPTION_MESSAGE] if message else None


def _template(first_line: str, exception_type: str | None) -> str:
    if exception_type and exception_type not in first_line:
        return f"{first_line} {exception_type}"
    return first_line


def find_stack_trace(text: str, first_line: str | None = None) -> StackTrace | None:
    """The trace in a multi-line text, or None when it holds none.

    ``first_line`` is the line the template starts with (default: the text's first line); the
    decoder passes the parsed message's, without the timestamp and level prefix.
    """
    text = text[:SCAN_LIMIT]
    if first_line is None:
        first_line = text.split("\n", 1)[0]
    first_line = first_line.strip()
    header_at = text.find(PYTHON_HEADER)
    if header_at >= 0:
        return _python_trace(text[header_at:], first_line)
    frame = _FRAME.search(text)
    if frame is not None:
        before = text[: frame.start()].rstrip("\n").rsplit("\n", 1)[-1]
        exception_type, exception_message = _exception_parts(before)
        return StackTrace(
            exception_type, exception_message, Level.ERROR, _template(first_line, exception_type)
        )
    panic = _GO_PANIC.search(text)
    if panic is not None and "\ngoroutine " in text:
        panic_message = panic.group("message")[:MAX_EXCEPTION_MESSAGE]
        return StackTrace("panic", panic_message, Level.FATAL, _template(first_line, "panic"))
    return None


def _python_trace(trace: str, first_line: str) -> StackTrace:
    exception_line = ""
    for line in reversed(trace.split("\n")):
        if line and not line[0].isspace() and line != PYTHON_HEADER:
            exception_line = line
            break
    exception_type, exception_message = _exception_parts(exception_line)
    return StackTrace(
        exception_type, exception_message, Level.ERROR, _template(first_line, exception_type)
    )
