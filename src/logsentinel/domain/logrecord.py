"""The normalised log record: what every parser produces and every detector consumes."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, JsonValue, StringConstraints, field_validator

from logsentinel.domain.base import SchemaModel
from logsentinel.domain.types import LabelMap

MAX_MESSAGE_LENGTH = 256 * 1024


class Level(StrEnum):
    """Log severity, normalised from whatever the application wrote."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    FATAL = "fatal"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Order for "at least this level" comparisons; unknown ranks lowest."""
        return _LEVEL_RANK[self]


_LEVEL_RANK = {level: rank for rank, level in enumerate(Level)}
_LEVEL_RANK[Level.UNKNOWN] = -1


class Stream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


class SourcePosition(SchemaModel):
    """Where a record was read: the Kafka coordinates that make its idempotency key."""

    topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]


ShortName = Annotated[str, StringConstraints(max_length=253)]


class LogRecord(SchemaModel):
    """One log line (or one multi-line event such as a stack trace), normalised."""

    timestamp: AwareDatetime = Field(description="When the application wrote it, in UTC.")
    level: Level = Level.UNKNOWN
    message: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_LENGTH)]
    service: ShortName = Field(min_length=1)
    namespace: ShortName = ""
    pod: ShortName = ""
    container: ShortName = ""
    node: ShortName = ""
    stream: Stream | None = None
    labels: LabelMap = Field(default_factory=dict)
    template_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    trace_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    attributes: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Fields parsed from the message (status, latency, path, ...).",
    )
    source: SourcePosition | None = None

    @field_validator("timestamp")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise ValueError("must be within years 1 to 9999 in UTC") from None

    @property
    def partition_key(self) -> str:
        """The Kafka key: one consumer owns all records of a namespace/service."""
        return f"{self.namespace}/{self.service}"
