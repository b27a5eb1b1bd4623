"""User-written regular expressions, compiled to run in linear time where possible.

Custom parsers (LogPipeline) and rule matches (DetectionRule) come from cluster users and run on
every log line, so a careless pattern must not hang a processor. Patterns are compiled with RE2
(``google-re2``): linear time. Patterns RE2 cannot express (lookaround, backreferences) fall back
to Python's backtracking ``re``; callers bound the text such patterns see.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Protocol

ENGINE_RE2 = "re2"
ENGINE_RE = "re"


class Match(Protocol):
    def groupdict(self) -> dict[str, str | None]: ...


class Pattern(Protocol):
    def search(self, text: str) -> Match | None: ...


def _find_re2_compiler() -> Callable[[str], Pattern | None] | None:
    try:
        re2: Any = importlib.import_module("re2")
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True
    unsupported: type[Exception] = re2.error

    def compile_re2(pattern: str) -> Pattern | None:
        try:
            compiled: Pattern = re2.compile(pattern, options)
        except unsupported:  # a construct RE2 does not have, such as lookbehind
            return None
        return compiled

    return compile_re2


_COMPILE_RE2 = _find_re2_compiler()


def compile_pattern(pattern: str) -> tuple[Pattern, str]:
    """The compiled pattern and the engine used: ``re2`` when it can, else ``re``."""
    if _COMPILE_RE2 is not None:
        compiled = _COMPILE_RE2(pattern)
        if compiled is not None:
            return compiled, ENGINE_RE2
    return re.compile(pattern, re.DOTALL), ENGINE_RE
