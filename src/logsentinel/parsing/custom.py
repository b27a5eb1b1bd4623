"""Custom parsers from the LogPipeline: regexes whose named groups become fields.

They run before the built-in formats, for the services they list (all when none). Groups
named like the well-known fields (``msg``/``message``, ``level``, ``time``/``timestamp``,
``trace_id``, ...) fill those; the others become attributes, canonical numbers as numbers.
Unmatched optional groups are left out.

User regexes are compiled by :mod:`logsentinel.domain.regex`: RE2 only, so matching is linear
in the text; a line is searched in its first :data:`MAX_INPUT` characters, which bounds the
cost of one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from logsentinel.domain.errors import describe
from logsentinel.domain.pipeline import CustomParser
from logsentinel.domain.regex import Pattern, compile_regex
from logsentinel.parsing.fields import (
    MESSAGE_KEYS,
    TRACE_KEYS,
    scalar_from_text,
    structured_message,
)
from logsentinel.parsing.parsed import ParsedMessage

MAX_INPUT = 8 * 1024
_TEXT_GROUPS = frozenset(MESSAGE_KEYS + TRACE_KEYS)


@dataclass(frozen=True, slots=True)
class CompiledParser:
    name: str
    pattern: Pattern
    services: frozenset[str]

    def applies_to(self, service: str) -> bool:
        return not self.services or service in self.services


def load_parsers(document: object) -> tuple[list[CustomParser], list[str]]:
    """The valid parsers of a parsed YAML list, and why each other entry was refused.

    One refused entry (say, a pattern RE2 cannot run, written before patterns were RE2 only)
    must not keep a processor from starting: the lines it would have parsed fall through to the
    built-in formats instead.
    """
    if document is None:
        return [], []
    if not isinstance(document, list):
        return [], [f"expected a list of custom parsers, got {type(document).__name__}"]
    parsers: list[CustomParser] = []
    problems: list[str] = []
    for index, entry in enumerate(document):
        try:
            parsers.append(CustomParser.model_validate(entry))
        except ValidationError as error:
            problems.extend(str(problem) for problem in describe(error, (index,)))
    return parsers, problems


def compile_parsers(parsers: Sequence[CustomParser]) -> tuple[CompiledParser, ...]:
    """Compile once per decoder (the domain model already checked that each compiles)."""
    return tuple(
        CompiledParser(parser.name, compile_regex(parser.regex), frozenset(parser.services))
        for parser in parsers
    )


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
