"""Timestamps as applications and Fluent Bit write them, to aware UTC datetimes.

Every function returns None instead of raising: an unparseable application timestamp is not an
error, the caller falls back to the collector's time. Whether a time that parses is plausible
(year 2999, a quarter second after the epoch) is not decided here but by the event-time window
(:mod:`logsentinel.parsing.eventtime`), which replaces it and keeps the original.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_COMMON_LOG_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\s+([+-])(\d{2})(\d{2}))?$"
)
_CACHE_LIMIT = 4096
_common_log_cache: dict[str, datetime | None] = {}


def _in_utc(moment: datetime) -> datetime | None:
    """moment in UTC (naive: taken as UTC); None when that is outside years 1 to 9999."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def parse_iso(text: str) -> datetime | None:
    """ISO 8601 / RFC 3339 text (``Z``, offsets, ``,`` or ``.`` fractions, nanoseconds).

    Text without an offset is taken as UTC.
    """
    if not 10 <= len(text) <= 40 or not text[0].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is UTC:
        return moment  # the common case, without another call
    return _in_utc(moment)


def parse_epoch(number: float) -> datetime | None:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch, told by magnitude."""
    if number != number or number <= 0:  # NaN or not after the epoch
        return None
    if number >= 1e17:
        number /= 1e9
    elif number >= 1e14:
        number /= 1e6
    elif number >= 1e11:
        number /= 1e3
    try:
        moment = datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return _in_utc(moment)


def parse_time_value(value: object) -> datetime | None:
    """A time field of a structured line: ISO text, epoch number or numeric text."""
    if isinstance(value, str):
        moment = parse_iso(value)
        if moment is None and value[:1].isdigit() and len(value) <= 24:
            try:
                return parse_epoch(float(value))
            except ValueError:
                return None
        return moment
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return parse_epoch(value)
    return None


def parse_common_log_time(text: str) -> datetime | None:
    """``10/Oct/2000:13:55:36 -0700`` (nginx ``$time_local``, Apache ``%t``)."""
    cached = _common_log_cache.get(text)
    if cached is not None or text in _common_log_cache:
        return cached
    moment = _parse_common_log_time(text)
    if len(_common_log_cache) >= _CACHE_LIMIT:
        _common_log_cache.clear()
    _common_log_cache[text] = moment
    return moment


def _parse_common_log_time(text: str) -> datetime | None:
    match = _COMMON_LOG_TIME.match(text)
    if match is None:
        return None
    day, month_name, year, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    month = _MONTHS.get(month_name)
    if month is None:
        return None
    try:
        zone = UTC
        if sign is not None:
            offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            zone = timezone(-offset if sign == "-" else offset)
        moment = datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=zone
        )
    except ValueError:  # day 31 of a 30-day month, an offset of a day or more
        return None
    return _in_utc(moment)
