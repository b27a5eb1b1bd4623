"""Custom parsers from the LogPipeline: regexes whose named groups become fields.

They run before the built-in formats, for the services they list (all when none). Groups
named like the well-known fields (``msg``/``message``, ``level``, ``time``/``timestamp``,
``trace_id``, ...) fill those; the others become attributes, canonical numbers as numbers.
Unmatched optional groups are left out.

User regexes are compiled with RE2 (``google-re2``) when it is installed: linear time, so no
pattern can hang a processor on a hostile line. Patterns RE2 cannot express (lookaround,
backreferences) and installs without RE2 use Python's backtracking ``re``; those only ever see
the first :data:`MAX_INPUT` characters of a line, which bounds ordinary patterns but not a
catastrophic one such as ``(a+)+$``. Either way they see at most that window.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from logsentinel.domain.pipeline import CustomParser
from logsentinel.parsing.fields import (
    MESSAGE_KEYS,
    TRACE_KEYS,
    scalar_from_text,
    structured_message,
)
from logsentinel.parsing.parsed import ParsedMessage

MAX_INPUT = 8 * 1024
_TEXT_GROUPS = frozenset(MESSAGE_KEYS + TRACE_KEYS)


class _Match(Protocol):
    def groupdict(self) -> dict[str, str | None]: ...


class _Pattern(Protocol):
    def search(self, text: str) -> _Match | None: ...


def _find_re2_compiler() -> Callable[[str], _Pattern | None] | None:
    try:
        re2: Any = importlib.import_module("re2")
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True
    unsupported: type[Exception] = re2.error

    def compile_re2(pattern: str) -> _Pattern | None:
        try:
            compiled: _Pattern = re2.compile(pattern, options)
        except unsupported:  # a construct RE2 does not have, such as lookbehind
            return None
        return compiled

    return compile_re2


_COMPILE_RE2 = _find_re2_compiler()


def compile_pattern(pattern: str) -> tuple[_Pattern, str]:
    """The compiled pattern and the engine used: ``re2`` when it can, else ``re``."""
    if _COMPILE_RE2 is not None:
        compiled = _COMPILE_RE2(pattern)
        if compiled is not None:
            return compiled, "re2"
    return re.compile(pattern, re.DOTALL), "re"


@dataclass(frozen=True, slots=True)
class CompiledParser:
    name: str
    pattern: _Pattern
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
