"""Choosing the parser for a line by its first character, then filling in what it left open.

Order: custom parsers, then JSON (``{``), ``<timestamp> <level>`` (digit or ``[``), klog,
access logs, ``<LEVEL> ...``, logfmt (has ``=``), plain text. Afterwards, for every format:
a multi-line message is checked for a stack trace, and a missing level is inferred from an HTTP
status attribute (>= 500 error, 4xx warn, else info) or the trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import JsonValue

from logsentinel.domain import Level
from logsentinel.domain.pipeline import CustomParser
from logsentinel.parsing.accesslog import looks_like_access_log, parse_access_log
from logsentinel.parsing.custom import compile_parsers, parse_custom
from logsentinel.parsing.jsonline import parse_json_line
from logsentinel.parsing.levels import level_from_status
from logsentinel.parsing.logfmt import parse_logfmt
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.parsing.plaintext import (
    parse_klog,
    parse_level_first,
    parse_timestamp_level,
    plain_message,
)
from logsentinel.parsing.stacktrace import find_stack_trace

STATUS_KEYS = ("status", "status_code", "statusCode", "http.status", "http.status_code")
_KLOG_LETTERS = frozenset("IWEF")
MAX_FIRST_LINE = 1024


def level_from_status_attribute(attributes: Mapping[str, JsonValue]) -> Level | None:
    """The level an HTTP status attribute implies, or None when there is none."""
    for key in STATUS_KEYS:
        status = attributes.get(key)
        if isinstance(status, int) and not isinstance(status, bool):
            return level_from_status(status) if 100 <= status <= 599 else None
    return None


class MessageParser:
    """Parses the text of one log line into a :class:`ParsedMessage`."""

    def __init__(self, custom_parsers: Sequence[CustomParser] = ()) -> None:
        self._custom = compile_parsers(custom_parsers)

    def parse(self, line: str, service: str = "", clean: bool = False) -> ParsedMessage:
        """Parse ``line`` (``clean``: replace NUL and lone surrogates in kept text)."""
        if line.endswith(("\n", "\r")):
            line = line.rstrip("\r\n")
        parsed = self._parse_format(line, service, clean)
        if "\n" in parsed.message:
            # The whole line, not the message: a "panic:" or level prefix belongs to the trace.
            trace = find_stack_trace(
                line if "\n" in line else parsed.message,
                parsed.message.split("\n", 1)[0][:MAX_FIRST_LINE],
            )
            if trace is not None:
                if trace.exception_type is not None:
                    parsed.attributes.setdefault("exception.type", trace.exception_type)
                if trace.exception_message is not None:
                    parsed.attributes.setdefault("exception.message", trace.exception_message)
                if parsed.level is None:
                    parsed.level = trace.level
                if parsed.template_source is None:
                    parsed.template_source = trace.template_source
        if parsed.level is None and parsed.attributes:
            parsed.level = level_from_status_attribute(parsed.attributes)
        return parsed

    def _parse_format(self, line: str, service: str, clean: bool) -> ParsedMessage:
        if self._custom:
            parsed = parse_custom(self._custom, line, service, clean)
            if parsed is not None:
                return parsed
        if not line:
            return plain_message(line, clean)
        first = line[0]
        parsed = None
        if first == "{":
            parsed = parse_json_line(line, clean)
        elif first.isdigit() or first == "[":
            parsed = parse_timestamp_level(line, clean)
        elif first in _KLOG_LETTERS and line[1:5].isdigit():
            parsed = parse_klog(line, clean)
        if parsed is None and looks_like_access_log(line):
            parsed = parse_access_log(line, clean)
        if parsed is None and (first == "[" or first.isupper() or ":" in line[1:12]):
            parsed = parse_level_first(line, clean)
        if parsed is None and "=" in line:
            parsed = parse_logfmt(line, clean)
        return parsed if parsed is not None else plain_message(line, clean)
