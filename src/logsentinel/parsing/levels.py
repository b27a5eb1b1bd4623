"""Turning whatever an application wrote for severity into a :class:`Level`."""

from __future__ import annotations

from logsentinel.domain import Level

_LEVEL_NAMES: dict[str, Level] = {
    "trace": Level.TRACE,
    "finest": Level.TRACE,
    "finer": Level.TRACE,
    "debug": Level.DEBUG,
    "fine": Level.DEBUG,
    "dbug": Level.DEBUG,
    "info": Level.INFO,
    "information": Level.INFO,
    "informational": Level.INFO,
    "notice": Level.INFO,
    "config": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "wrn": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "eror": Level.ERROR,
    "severe": Level.ERROR,
    "exception": Level.ERROR,
    "fatal": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "panic": Level.FATAL,
    "dpanic": Level.FATAL,
    "emerg": Level.FATAL,
    "emergency": Level.FATAL,
    "alert": Level.FATAL,
}
# Single letters used by klog/glog (I0501 ...) and Serilog-like short forms.
_LETTER_LEVELS: dict[str, Level] = {
    "T": Level.TRACE,
    "D": Level.DEBUG,
    "I": Level.INFO,
    "W": Level.WARN,
    "E": Level.ERROR,
    "F": Level.FATAL,
}
# Upper-case and title-case spellings resolve without lower-casing on the hot path.
_LOOKUP: dict[str, Level] = {}
for _name, _level in _LEVEL_NAMES.items():
    _LOOKUP[_name] = _level
    _LOOKUP[_name.upper()] = _level
    _LOOKUP[_name.title()] = _level


def level_from_name(name: str) -> Level | None:
    """``"WARNING"`` -> ``Level.WARN``; None when the word is not a level."""
    level = _LOOKUP.get(name)
    if level is None and len(name) <= 16:
        level = _LEVEL_NAMES.get(name.strip().lower())
    return level


def level_from_letter(letter: str) -> Level | None:
    """klog's one-letter severity: ``E`` -> ``Level.ERROR``."""
    return _LETTER_LEVELS.get(letter)


def level_from_number(number: float) -> Level | None:
    """Numeric levels: bunyan/pino (10..60) or syslog severities (0..7)."""
    if number >= 10:
        if number >= 60:
            return Level.FATAL
        if number >= 50:
            return Level.ERROR
        if number >= 40:
            return Level.WARN
        if number >= 30:
            return Level.INFO
        if number >= 20:
            return Level.DEBUG
        return Level.TRACE
    if number < 0:
        return None
    # syslog: 0 emerg .. 7 debug
    if number <= 2:
        return Level.FATAL
    if number <= 3:
        return Level.ERROR
    if number <= 4:
        return Level.WARN
    if number <= 6:
        return Level.INFO
    return Level.DEBUG


def level_from_value(value: object) -> Level | None:
    """A level from a structured field: a name (``"warn"``) or a number (``40``)."""
    if isinstance(value, str):
        return level_from_name(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return level_from_number(value)
    return None


def level_from_status(status: int) -> Level:
    """HTTP status: >= 500 error, 4xx warn, anything else info."""
    if status >= 500:
        return Level.ERROR
    if status >= 400:
        return Level.WARN
    return Level.INFO
