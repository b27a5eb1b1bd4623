"""The normalised log record: what every parser produces and every detector consumes, and the
event-time rule that decides which time a record may carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, JsonValue, StringConstraints, field_validator

from logsentinel.domain.base import SchemaModel
from logsentinel.domain.types import LabelMap, format_duration

MAX_MESSAGE_LENGTH = 256 * 1024

FORMAT_HEADER = "logsentinel-format"
"""Kafka header naming the shape of a value on the logs topic; absent means a Fluent Bit record."""
LOGRECORD_FORMAT = b"logrecord.v1"
"""Header value of records produced by the ingest API (LogRecord wire JSON)."""
OTLP_LOGS_FORMAT = b"otlp-logs.v1"
"""Header value of the OpenTelemetry Collector agent's messages: an OTLP
ExportLogsServiceRequest in protobuf, any number of log records."""
ORIGINAL_TIME_ATTRIBUTE = "logsentinel.original_time"
"""Set when a record's own time was replaced: that time as it was written."""
TIME_REPLACED_ATTRIBUTE = "logsentinel.time_replaced"
"""Set with :data:`ORIGINAL_TIME_ATTRIBUTE`: why the time was replaced, and by which."""
DEFAULT_MAX_EVENT_AGE = timedelta(days=7)
DEFAULT_MAX_EVENT_LEAD = timedelta(minutes=10)


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

    timestamp: AwareDatetime = Field(
        description="When the application wrote it, in UTC. A time outside the accepted window "
        f"is replaced by the arrival time; attributes {ORIGINAL_TIME_ATTRIBUTE} and "
        f"{TIME_REPLACED_ATTRIBUTE} then hold the original and the reason."
    )
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
        return partition_key(self.namespace, self.service)


def partition_key(namespace: str, service: str) -> str:
    """The Kafka key of a record of this service: see :attr:`LogRecord.partition_key`."""
    return f"{namespace}/{service}"


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    """Which times a record may carry, relative to when it arrived.

    A record's own time is accepted when it is at most ``max_age`` before the receiver's clock
    (older would fall to retention at once) and at most ``max_lead`` after its arrival time.
    Otherwise the caller stores the record at a time that is accepted (the collector's, else
    the arrival time) and marks it with :data:`ORIGINAL_TIME_ATTRIBUTE`. Far-future times would
    keep silence detection quiet and, like ancient ones, each would make a partition of its own.

    The arrival time is the Kafka timestamp for the processors and the request time for ingest;
    one that is after the receiver's clock or older than ``max_age`` is not believed either,
    the receiver's clock stands in for it. So every accepted time lies within
    [now - max_age, now + max_lead], the days :meth:`days` lists.
    """

    max_age: timedelta = DEFAULT_MAX_EVENT_AGE
    max_lead: timedelta = DEFAULT_MAX_EVENT_LEAD

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0) or self.max_lead < timedelta(0):
            raise ValueError("max_age must be positive and max_lead not negative")

    def at(self, now: datetime) -> EventTimeBounds:
        """This window at one reading of the receiver's clock, its bounds computed once."""
        oldest = now - self.max_age
        return EventTimeBounds(self, now, oldest, _epoch_micros(now), _epoch_micros(oldest))

    def arrival(self, reported: datetime | None, now: datetime) -> datetime:
        """The arrival time to go by: reported (a Kafka timestamp) unless it is missing, after
        now, or older than max_age; then now."""
        if reported is None or reported > now or reported < now - self.max_age:
            return now
        return reported

    def refusal(self, moment: datetime, arrival: datetime, now: datetime) -> str | None:
        """Why moment cannot be the time of a record that arrived at arrival; None if it can."""
        if moment < now - self.max_age:
            return f"more than {format_duration(self.max_age)} old when received"
        if moment > arrival + self.max_lead:
            return f"more than {format_duration(self.max_lead)} after it arrived"
        return None

    def days(self, now: datetime) -> list[date]:
        """The days an accepted time can fall on, oldest first, and the day after the last: the
        partitions to have ready."""
        first = (now - self.max_age).date()
        last = (now + self.max_lead).date() + timedelta(days=1)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _epoch_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class EventTimeBounds:
    """An :class:`EventTimeWindow` at one reading of the receiver's clock (``now``), with the
    oldest accepted time precomputed, so that a batch of records read together pays for the
    clock and the date arithmetic once (:meth:`EventTimeWindow.at` makes one)."""

    window: EventTimeWindow
    now: datetime
    oldest: datetime
    """``now - max_age``: the oldest time a record may carry and the oldest believed arrival."""
    now_micros: int
    oldest_micros: int

    def arrival(self, reported: datetime | None) -> datetime:
        """:meth:`EventTimeWindow.arrival` at now."""
        if reported is None or reported > self.now or reported < self.oldest:
            return self.now
        return reported

    def arrival_at_millis(self, millis: int) -> datetime:
        """:meth:`arrival` for a time given in milliseconds since the epoch (a Kafka timestamp),
        compared as an integer first, so that one that is not believed never becomes a
        datetime (nor overflows one)."""
        micros = millis * 1000
        if micros > self.now_micros or micros < self.oldest_micros:
            return self.now
        return datetime.fromtimestamp(millis / 1000, UTC)

    def accepts(self, moment: datetime, arrival: datetime) -> bool:
        """Whether :meth:`refusal` would find nothing wrong with moment, without its text."""
        return self.oldest <= moment <= arrival + self.window.max_lead

    def refusal(self, moment: datetime, arrival: datetime) -> str | None:
        """:meth:`EventTimeWindow.refusal` at now."""
        return self.window.refusal(moment, arrival, self.now)
