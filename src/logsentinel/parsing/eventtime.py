"""Choosing a record's time: the first time it claims that the event-time window accepts, else
its arrival time; a record whose own time was not believed says so in its attributes.

The window itself (how far back and ahead, and which arrival time counts) is
:class:`logsentinel.domain.logrecord.EventTimeWindow`, the one rule that the processors, the
ingest API's local mode and the partition maintenance all follow; it is applied here as
:class:`~logsentinel.domain.logrecord.EventTimeBounds`, the window at one reading of the clock.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from logsentinel.domain.logrecord import (
    ORIGINAL_TIME_ATTRIBUTE,
    TIME_REPLACED_ATTRIBUTE,
    EventTimeBounds,
)
from logsentinel.domain.types import format_timestamp

Claim = tuple[datetime | None, JsonValue, str]
"""A time a record claims: the moment, the value as written (None: not known, the moment's
ISO text stands in) and whose time it is ("the collector's", ...), for the reason text."""
ARRIVAL = "its arrival"


def settle_time(
    bounds: EventTimeBounds,
    claims: tuple[Claim, ...],
    arrival: datetime,
    attributes: dict[str, JsonValue],
) -> datetime:
    """The first claimed moment the window accepts, else arrival. When the first claim present
    is refused, attributes get its written value and the reason (which time replaced it)."""
    refused: tuple[JsonValue, str] | None = None
    for moment, written, whose in claims:
        if moment is None:
            continue
        problem = bounds.refusal(moment, arrival)
        if problem is None:
            if refused is not None:
                _mark(attributes, refused, f"{whose} time")
            return moment
        if refused is None:
            refused = (written if written is not None else format_timestamp(moment), problem)
    if refused is not None:
        _mark(attributes, refused, f"{ARRIVAL} time")
    return arrival


def _mark(attributes: dict[str, JsonValue], refused: tuple[JsonValue, str], used: str) -> None:
    written, problem = refused
    attributes[ORIGINAL_TIME_ATTRIBUTE] = written
    attributes[TIME_REPLACED_ATTRIBUTE] = f"{problem}; stored at {used}"
