"""User regular expressions: RE2 syntax only, so that matching time is linear in the text.

Rule matches (DetectionRule) and custom parsers (LogPipeline) come from cluster users and run on
every log line. RE2 (``google-re2``) searches in time linear in the text whatever the pattern;
a backtracking engine such as Python's ``re`` can take hours on ``(a+)+$`` and forty
characters. So a pattern is valid exactly when RE2 compiles it, and the constructs that need
backtracking (lookaround, backreferences, atomic groups, possessive quantifiers) are refused
with a message that says which one it was. This is the one place that compiles user patterns.
"""

from __future__ import annotations

from typing import Any, Protocol

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

MAX_REGEX_LENGTH = 1024
SYNTAX = "https://github.com/google/re2/wiki/Syntax"


class Match(Protocol):
    def groupdict(self) -> dict[str, str | None]: ...


class Pattern(Protocol):
    """A compiled user pattern (the part of RE2's API the product uses)."""

    @property
    def groupindex(self) -> dict[str, int]: ...

    def search(self, text: str) -> Match | None: ...


class RegexError(ValueError):
    """A pattern RE2 does not accept; the message says why, for the person who wrote it."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the reason goes into the error, not to stderr
    options.dot_nl = True  # "." also matches newlines in multi-line messages (stack traces)
    return options


_OPTIONS = _options()

_PERL_OPERATORS = {
    "(?=": "lookahead",
    "(?!": "lookahead",
    "(?<=": "lookbehind",
    "(?<!": "lookbehind",
    "(?>": "atomic groups",
    "(?P": "backreferences or recursion",  # RE2 reports (?P=name) and (?P>name) cut short
    "(?R": "recursion",
    "(?#": "comments",
    "(?|": "branch reset groups",
}


def _unsupported(reason: str) -> str | None:
    """The backtracking construct an RE2 error is about, if it is one."""
    kind, _, operator = reason.partition(": ")
    if kind == "invalid perl operator":
        return _PERL_OPERATORS.get(operator)
    if kind == "invalid escape sequence" and operator[1:2] in set("123456789kg"):
        return "backreferences"
    if kind == "bad repetition operator" and len(operator) > 1 and operator.endswith("+"):
        return "possessive quantifiers"
    return None


def _explain(reason: str) -> str:
    construct = _unsupported(reason)
    operator = reason.partition(": ")[2]
    if construct is not None:
        return (
            f"RE2 does not support {construct} (found '{operator}'): patterns are RE2 syntax, "
            f"which matches in linear time (see {SYNTAX})"
        )
    if operator == "\\Z":
        return "RE2 does not support \\Z: write \\z for the end of the text"
    return f"invalid regular expression: {reason} (RE2 syntax, see {SYNTAX})"


def compile_regex(pattern: str) -> Pattern:
    """The pattern compiled by RE2 (``.`` matches newlines), or RegexError saying why not."""
    try:
        compiled: Pattern = re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else str(error)
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(_explain(str(reason))) from None
    except UnicodeEncodeError:  # a lone surrogate: not text RE2 (or PostgreSQL) can take
        raise RegexError("invalid regular expression: not valid Unicode text") from None
    return compiled


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable user regex, or None when RE2 compiles it."""
    try:
        compile_regex(pattern)
    except RegexError as error:
        return str(error)
    return None
