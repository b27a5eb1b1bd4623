"""Unstructured lines that still say when and how bad: the generic forms.

- ``<timestamp> <level> <message>``, the default of most logging libraries, with the level
  optionally in brackets and followed by ``:``/``-``/``|``
  (``2024-05-01 12:00:00,123 ERROR [main] Foo - failed``);
- ``<LEVEL> <message>``, ``[level] message`` and ``LEVEL:logger:message`` (Python's default);
- klog/glog, as Kubernetes components write: ``E0501 12:00:00.123456 1 file.go:42] message``;
- anything else is plain text, its level guessed from an unmistakable first word only
  (``Error connecting to ...``).
"""

from __future__ import annotations

import re

from logsentinel.domain import Level
from logsentinel.parsing.attributes import clean_text
from logsentinel.parsing.levels import level_from_letter, level_from_name
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.parsing.timestamps import parse_iso

_TIMESTAMP = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
_TIMESTAMP_LEVEL = re.compile(
    rf"\[?(?P<time>{_TIMESTAMP})\]?\s+\[?(?P<level>[A-Za-z]{{3,11}})\]?(?:\s*[:|-])?\s+(?P<msg>.*)",
    re.DOTALL,
)
_LEVEL_FIRST = re.compile(
    r"(?:\[(?P<bracketed>[A-Za-z]{3,11})\]|(?P<upper>[A-Z]{3,11})(?=[\s:])|(?P<colon>[A-Za-z]{3,11})(?=:))"
    r":?\s*(?P<msg>.*)",
    re.DOTALL,
)
_KLOG = re.compile(
    r"(?P<level>[IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s+(?P<thread>\d{1,10}) "
    r"(?P<source>[^\s:\]]+:\d{1,9})\] "
    r"(?P<msg>.*)",
    re.DOTALL,
)
_FIRST_WORD = re.compile(r"([A-Za-z]{4,9})\b")
_PLAIN_LEVEL_WORDS: dict[str, Level] = {
    "error": Level.ERROR,
    "exception": Level.ERROR,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "fatal": Level.FATAL,
    "panic": Level.FATAL,
}


def parse_timestamp_level(line: str, clean: bool) -> ParsedMessage | None:
    """``<timestamp> <level> <message>``, or None."""
    match = _TIMESTAMP_LEVEL.match(line)
    if match is None:
        return None
    level = level_from_name(match.group("level"))
    if level is None:
        return None
    message = match.group("msg")
    return ParsedMessage(
        message=clean_text(message) if clean else message,
        format="leveled",
        level=level,
        timestamp=parse_iso(match.group("time").replace(",", ".")),
    )


def parse_level_first(line: str, clean: bool) -> ParsedMessage | None:
    """``ERROR something``, ``[warn] something`` or ``ERROR:root:something``, or None."""
    match = _LEVEL_FIRST.match(line)
    if match is None:
        return None
    word = match.group("bracketed") or match.group("upper") or match.group("colon")
    level = level_from_name(word)
    if level is None:
        return None
    message = match.group("msg")
    return ParsedMessage(
        message=clean_text(message) if clean else message, format="leveled", level=level
    )


def parse_klog(line: str, clean: bool) -> ParsedMessage | None:
    """klog/glog header (its timestamp has no year, so the collector's time is kept), or None."""
    match = _KLOG.match(line)
    if match is None:
        return None
    message = match.group("msg")
    return ParsedMessage(
        message=clean_text(message) if clean else message,
        format="klog",
        level=level_from_letter(match.group("level")),
        attributes={"source": match.group("source"), "thread": int(match.group("thread"))},
    )


def plain_message(line: str, clean: bool) -> ParsedMessage:
    """Any other line, kept whole. Its level comes from its first word only when that word is
    unmistakable (error, exception, warn(ing), fatal, panic in any case): ``Alert created`` or
    ``Critical section`` say nothing about severity."""
    level: Level | None = None
    first_word = _FIRST_WORD.match(line)
    if first_word is not None:
        level = _PLAIN_LEVEL_WORDS.get(first_word.group(1).lower())
    return ParsedMessage(message=clean_text(line) if clean else line, format="plain", level=level)
