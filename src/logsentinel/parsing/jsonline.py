"""JSON lines: one object per line, as structured loggers (zap, logrus, structlog, pino) write."""

from __future__ import annotations

from logsentinel.parsing.fields import structured_message
from logsentinel.parsing.jsonio import JsonError, loads
from logsentinel.parsing.parsed import ParsedMessage


def parse_json_line(line: str, clean: bool) -> ParsedMessage | None:
    """The line's fields, or None when it is not a JSON object (it is then plain text).

    Nesting too deep for the parser, ``NaN`` and broken JSON all count as "not JSON".
    """
    if not line.endswith("}"):
        stripped = line.rstrip()
        if not stripped.endswith("}"):
            return None
        line = stripped
    try:
        fields = loads(line)
    except JsonError:
        return None
    if not isinstance(fields, dict):
        return None
    return structured_message(fields, line, "json", clean)
