"""logfmt lines: ``level=info msg="request done" status=200 duration=12ms``.

A line is logfmt only when every token is a ``key=value`` pair (values may be double-quoted
with backslash escapes) and there are at least two pairs, so prose with one ``=`` in it stays
plain text.
"""

from __future__ import annotations

import re
from typing import Any

from logsentinel.parsing.fields import scalar_from_text, structured_message
from logsentinel.parsing.parsed import ParsedMessage

# Quoted values use the unrolled form "[^"\\]*(?:\\.[^"\\]*)*": linear, no nested repetition.
_PAIR = r'[^\s="]+=(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*)'
_WHOLE_LINE = re.compile(rf"\s*{_PAIR}(?:\s+{_PAIR})+\s*", re.DOTALL)
_PAIRS = re.compile(r'([^\s="]+)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s"]*))', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPED = {"n": "\n", "t": "\t", "r": "\r"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda match: _ESCAPED.get(match.group(1), match.group(1)), text)


def parse_logfmt(line: str, clean: bool) -> ParsedMessage | None:
    """The line's pairs, or None when the line is not logfmt."""
    if _WHOLE_LINE.fullmatch(line) is None:
        return None
    fields: dict[str, Any] = {}
    for key, quoted, bare in _PAIRS.findall(line):
        if key in fields:
            continue
        if quoted:
            fields[key] = _unescape(quoted)
        elif bare and (bare[0].isdigit() or bare[0] == "-" or bare[0] in "tf"):
            fields[key] = scalar_from_text(bare)
        else:
            fields[key] = bare
    return structured_message(fields, line, "logfmt", clean)
