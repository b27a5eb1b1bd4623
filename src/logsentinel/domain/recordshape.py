"""A fast yes to "is this JSON a valid LogRecord?", without building pydantic objects.

:class:`LogRecordShape` mirrors :class:`~logsentinel.domain.logrecord.LogRecord` as a msgspec
struct: the same fields under the same wire names, the same types, lengths and defaults. msgspec
decodes a record into it in about a third of pydantic's time, which is what the ingest API needs
on its hot path (it passes the client's JSON on to Kafka as sent; the processors validate it
with LogRecord again).

The promise is one-sided, and that is what keeps LogRecord the one definition: **whatever the
shape accepts, LogRecord accepts.** The shape refuses some records LogRecord would take
(snake_case names, a time written as a number or without seconds, a `source` the sender must
not set anyway, values nested deeper than :data:`MAX_FAST_NESTING`); a caller asks LogRecord
about those, and LogRecord's verdict and error message are the ones that count.
``tests/unit/test_record_shape.py`` checks the mirror field by field and, with generated
records, that nothing the shape accepts is refused by LogRecord.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec

from logsentinel.domain.logrecord import MAX_MESSAGE_LENGTH, Level, Stream, partition_key

MAX_FAST_NESTING = 64
"""Records with more opening brackets and braces than this go to LogRecord: pydantic refuses
JSON nested about 200 deep, and the shape's decoder does not count depth the same way."""

_Short = Annotated[str, msgspec.Meta(max_length=253)]


class LogRecordShape(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """LogRecord's wire form, checked by msgspec (see the module docstring for the promise)."""

    timestamp: Annotated[datetime, msgspec.Meta(tz=True)]
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE_LENGTH)]
    service: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    level: Level = Level.UNKNOWN
    namespace: _Short = ""
    pod: _Short = ""
    container: _Short = ""
    node: _Short = ""
    stream: Stream | None = None
    labels: dict[str, Annotated[str, msgspec.Meta(max_length=63)]] = {}
    template_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    trace_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    attributes: dict[str, msgspec.Raw] = {}  # any JSON: checked for syntax, never built
    source: None = None  # set by Log Sentinel only: a record that has one goes to LogRecord

    def __post_init__(self) -> None:
        try:  # LogRecord keeps times in UTC: one that leaves years 1-9999 there is refused
            self.timestamp.astimezone(UTC)
        except OverflowError:
            raise ValueError("timestamp must be within years 1 to 9999 in UTC") from None

    @property
    def partition_key(self) -> str:
        """LogRecord.partition_key, from the same fields."""
        return partition_key(self.namespace, self.service)


def plainly_nested(document: bytes) -> bool:
    """Whether a record's JSON has few enough brackets and braces for the shape to judge it."""
    return document.count(b"[") + document.count(b"{") <= MAX_FAST_NESTING
