"""Well-known field names of structured lines (JSON, logfmt, custom regex groups).

The first present key of each group wins; a recognised field leaves the attributes, an
unrecognised value (``"level": "chatty"``) stays there untouched.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue

from logsentinel.parsing.attributes import MAX_ATTRIBUTES, AttributeBuilder, clean_text
from logsentinel.parsing.levels import level_from_value
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.parsing.timestamps import parse_time_value

MESSAGE_KEYS = ("msg", "message", "event", "@m")
LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "log.level", "loglevel", "@l")
TRACE_KEYS = ("trace_id", "traceId", "trace.id", "traceid", "dd.trace_id")
TIME_KEYS = ("time", "timestamp", "ts", "@timestamp", "@t", "datetime")
MAX_TRACE_ID_LENGTH = 128
_TEMPLATE_KEYS = 32


_SPECIAL_KEYS = frozenset(MESSAGE_KEYS + LEVEL_KEYS + TRACE_KEYS + TIME_KEYS)


def structured_message(
    fields: dict[str, Any],
    original: str,
    format_name: str,
    clean: bool,
    template_from_keys: bool = True,
) -> ParsedMessage:
    """Split a structured line's fields into message, level, time, trace id and attributes.

    Without a message field the whole line is the message; with ``template_from_keys`` its
    template is then mined from the field names, so events of the same shape share one.
    """
    special: dict[str, Any] = {}
    if clean or len(fields) > MAX_ATTRIBUTES:
        for key in _SPECIAL_KEYS.intersection(fields):
            special[key] = fields[key]
        attributes = _attributes_slowly(fields, clean, frozenset(special))
        for key in _SPECIAL_KEYS.intersection(attributes):
            special[key] = attributes.pop(key)
    else:
        attributes = {}
        builder: AttributeBuilder | None = None
        for key, value in fields.items():
            if key in _SPECIAL_KEYS:
                special[key] = value
            elif value is None or isinstance(value, str | int | float):
                attributes[key] = value
            else:
                if builder is None:
                    builder = AttributeBuilder(clean, attributes)
                builder.add(key, value)
        if builder is not None:
            attributes = builder.build()
            for key in _SPECIAL_KEYS.intersection(attributes):
                special[key] = attributes.pop(key)
    parsed = ParsedMessage(message=original, format=format_name, attributes=attributes)
    if special:
        _take_special(parsed, special, clean)
    if parsed.message is original:
        if template_from_keys:
            keys = ",".join(list(fields)[:_TEMPLATE_KEYS])
            parsed.template_source = f"{format_name} {{{keys}}}"
        if clean:
            parsed.message = clean_text(original)
    return parsed


def _attributes_slowly(
    fields: dict[str, Any], clean: bool, skip: frozenset[str]
) -> dict[str, JsonValue]:
    builder = AttributeBuilder(clean)
    builder.add_all(fields, skip)
    return builder.build()


def _take_special(parsed: ParsedMessage, special: dict[str, Any], clean: bool) -> None:
    """Move the well-known fields into ``parsed``; unusable values go back to the attributes."""
    for key in MESSAGE_KEYS:
        value = special.get(key)
        if isinstance(value, str):
            parsed.message = clean_text(value) if clean else value
            del special[key]
            break
    for key in LEVEL_KEYS:
        if key in special:
            level = level_from_value(special[key])
            if level is not None:
                parsed.level = level
                del special[key]
                break
    for key in TRACE_KEYS:
        value = special.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            trace_id = clean_text(str(value)) if clean else str(value)
            if 0 < len(trace_id) <= MAX_TRACE_ID_LENGTH:
                parsed.trace_id = trace_id
                del special[key]
                break
    for key in TIME_KEYS:
        if key in special:
            moment = parse_time_value(special[key])
            if moment is not None:
                parsed.timestamp = moment
                parsed.time_written = special.pop(key)
                break
    if special:
        builder = AttributeBuilder(clean, parsed.attributes)
        for key, value in special.items():
            builder.add(key, value)
        parsed.attributes = builder.build()


def scalar_from_text(text: str) -> JsonValue:
    """Text from logfmt or a regex group as the JSON value it spells: 42, 1.5, true, or text.

    Only canonical numbers convert, so identifiers such as ``007`` or ``1e5`` stay text.
    """
    if not text:
        return text
    first = text[0]
    if first.isdigit() or (first == "-" and len(text) > 1):
        if _is_canonical_integer(text):
            return int(text)
        if _is_canonical_decimal(text):
            return float(text)
        return text
    if text == "true":
        return True
    if text == "false":
        return False
    return text


def _is_canonical_integer(text: str) -> bool:
    digits = text[1:] if text[0] == "-" else text
    return (
        digits.isdigit()
        and digits.isascii()
        and (digits == "0" or digits[0] != "0")
        and (len(digits) <= 18)
    )


def _is_canonical_decimal(text: str) -> bool:
    whole, dot, fraction = text.partition(".")
    return (
        bool(dot)
        and bool(fraction)
        and fraction.isdigit()
        and fraction.isascii()
        and (_is_canonical_integer(whole) if whole not in ("", "-") else False)
    )
