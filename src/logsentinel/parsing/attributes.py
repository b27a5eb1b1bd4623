"""Making parsed fields safe to store: JSON values only, bounded depth and size, clean text.

PostgreSQL refuses NUL characters in text and jsonb, and UTF-8 cannot encode lone surrogates
(which JSON's ``\\ud800`` escapes can produce). Both are replaced with U+FFFD wherever text
from a record is kept.

Nested objects are flattened into dotted keys (``{"http": {"status": 500}}`` becomes
``{"http.status": 500}``) down to :data:`MAX_DEPTH` levels; anything deeper, and arrays that
nest deeper than that, are kept as compact JSON text. Nothing recurses without a bound.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import JsonValue

from logsentinel.parsing.jsonio import dumps_compact

MAX_DEPTH = 4
"""Levels of nesting kept as structure; deeper values become JSON text."""
MAX_ATTRIBUTES = 128
"""Attributes kept per record; the rest are counted in ``logsentinel.dropped_attributes``."""
MAX_KEY_LENGTH = 256
DROPPED_ATTRIBUTES_KEY = "logsentinel.dropped_attributes"

MAX_TEXT_DEPTH = 32
"""Levels kept when a too-deep value is written as JSON text; deeper parts become ``"..."``."""
ELIDED = "..."

REPLACEMENT = "\ufffd"
_LONE_SURROGATE = re.compile(f"[{chr(0xD800)}-{chr(0xDFFF)}]")


def clean_text(text: str) -> str:
    """Text PostgreSQL and UTF-8 accept: NUL and lone surrogates become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _LONE_SURROGATE.sub(REPLACEMENT, text)
    return text


_SUSPICIOUS_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def may_need_cleaning(raw: bytes) -> bool:
    """Whether JSON bytes can decode to NUL or a lone surrogate (cheap scan, no false negative).

    Only escapes can: a raw NUL (or any raw control character) is not valid JSON and fails to
    parse. ``\\u0000`` and any ``\\uD800``-``\\uDFFF`` escape count; a correct surrogate pair
    (or an escaped backslash before ``u``) is cleaned needlessly but harmlessly.
    """
    return b"\\u" in raw and _SUSPICIOUS_ESCAPE.search(raw) is not None


def _bounded_value(value: Any, depth: int, clean: bool) -> JsonValue:
    """A JSON value no deeper than ``MAX_DEPTH - depth`` levels, else its JSON text."""
    if isinstance(value, str):
        return clean_text(value) if clean else value
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        text = dumps_compact(_elided(value, MAX_TEXT_DEPTH))
        return clean_text(text) if clean else text
    if isinstance(value, list):
        return [_bounded_value(item, depth + 1, clean) for item in value]
    if isinstance(value, dict):
        return {
            (clean_text(str(key)) if clean else str(key)): _bounded_value(item, depth + 1, clean)
            for key, item in value.items()
        }
    return clean_text(str(value)) if clean else str(value)


def _elided(value: Any, levels: int) -> Any:
    """``value`` with containers below ``levels`` levels replaced by ``"..."`` (no deep recursion
    when it is serialised)."""
    if isinstance(value, list):
        return [_elided(item, levels - 1) for item in value] if levels > 0 else ELIDED
    if isinstance(value, dict):
        if levels <= 0:
            return ELIDED
        return {key: _elided(item, levels - 1) for key, item in value.items()}
    return value


class AttributeBuilder:
    """Collects attributes for one record, flattening, bounding and counting them."""

    __slots__ = ("attributes", "clean", "dropped")

    def __init__(self, clean: bool = False, attributes: dict[str, JsonValue] | None = None) -> None:
        self.attributes: dict[str, JsonValue] = attributes if attributes is not None else {}
        self.clean = clean
        self.dropped = 0

    def add(self, key: str, value: Any, depth: int = 0) -> None:
        """Add one field; a nested object becomes ``key.child`` entries."""
        if self.clean:
            key = clean_text(key)
        if len(key) > MAX_KEY_LENGTH:
            key = key[:MAX_KEY_LENGTH]
        if isinstance(value, dict) and value and depth < MAX_DEPTH:
            for child_key, child in value.items():
                self.add(f"{key}.{child_key}", child, depth + 1)
            return
        if len(self.attributes) >= MAX_ATTRIBUTES and key not in self.attributes:
            self.dropped += 1
            return
        if isinstance(value, str):
            self.attributes[key] = clean_text(value) if self.clean else value
        elif value is None or isinstance(value, bool | int | float):
            self.attributes[key] = value
        else:
            self.attributes[key] = _bounded_value(value, depth, self.clean)

    def add_all(self, fields: dict[str, Any], skip: frozenset[str] = frozenset()) -> None:
        for key, value in fields.items():
            if key not in skip:
                self.add(key, value)

    def build(self) -> dict[str, JsonValue]:
        if self.dropped:
            self.attributes[DROPPED_ATTRIBUTES_KEY] = self.dropped
        return self.attributes
