"""Custom parsers from the LogPipeline: regexes whose named groups become fields.

They run before the built-in formats, for the services they list (all when none). Groups
named like the well-known fields (``msg``/``message``, ``level``, ``time``/``timestamp``,
``trace_id``, ...) fill those; the others become attributes, canonical numbers as numbers.
Unmatched optional groups are left out.

User regexes are compiled by :mod:`logsentinel.patterns` (RE2 when it can). Patterns that
fall back to Python's backtracking ``re`` only ever see the first :data:`MAX_INPUT` characters
of a line, which bounds ordinary patterns but not a catastrophic one such as ``(a+)+$``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from logsentinel.domain.pipeline import CustomParser
from logsentinel.parsing.fields import (
    MESSAGE_KEYS,
    TRACE_KEYS,
    scalar_from_text,
    structured_message,
)
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.patterns import Pattern, compile_pattern

MAX_INPUT = 8 * 1024
_TEXT_GROUPS = frozenset(MESSAGE_KEYS + TRACE_KEYS)


@dataclass(frozen=True, slots=True)
class CompiledParser:
    name: str
    pattern: Pattern
    services: frozenset[str]
    engine: str

    def applies_to(self, service: str) -> bool:
        return not self.services or service in self.services


def compile_parsers(parsers: Sequence[CustomParser]) -> tuple[CompiledParser, ...]:
    """Compile once per decoder (the domain model already checked that each compiles)."""
    compiled = []
    for parser in parsers:
        pattern, engine = compile_pattern(parser.regex)
        compiled.append(CompiledParser(parser.name, pattern, frozenset(parser.services), engine))
    return tuple(compiled)


def parse_custom(
    parsers: Sequence[CompiledParser], line: str, service: str, clean: bool
) -> ParsedMessage | None:
    """The first matching parser's fields, or None when none applies and matches."""
    window = line[:MAX_INPUT]
    for parser in parsers:
        if not parser.applies_to(service):
            continue
        match = parser.pattern.search(window)
        if match is None:
            continue
        fields: dict[str, Any] = {
            key: value if key in _TEXT_GROUPS else scalar_from_text(value)
            for key, value in match.groupdict().items()
            if value is not None
        }
        return structured_message(
            fields, line, f"custom:{parser.name}", clean, template_from_keys=False
        )
    return None
