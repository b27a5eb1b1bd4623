"""SQLAlchemy 2 models of the tables. Alembic migrations create them; queries use these models.

logs is range-partitioned by day on ts (see partitions.py). It deliberately has only the indexes
queries need (service and time, full text, a BRIN on time): each index costs ingest throughput,
and exactly-once needs none, because consumer_offsets is advanced in the same transaction as the
rows under a row lock (see writer.py). The (source_topic, source_partition, source_offset)
columns are the idempotency key that offset comparison enforces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from logsentinel.domain.logrecord import Level

LEVEL_ENUM = Enum(
    *[level.value for level in Level], name="log_level", create_type=False, validate_strings=True
)
TEXT_SEARCH_CONFIG = "simple"
"""'simple' indexes words as written: logs mix languages, identifiers and code."""


class Base(DeclarativeBase):
    pass


class LogRow(Base):
    """One stored log record. Idempotency key: (source_topic, source_partition, source_offset)."""

    __tablename__ = "logs"
    __table_args__ = (
        Index("logs_service_ts", "service", text("ts DESC")),
        Index("logs_ts_brin", "ts", postgresql_using="brin"),
        Index(
            "logs_message_fts",
            text(f"to_tsvector('{TEXT_SEARCH_CONFIG}', message)"),
            postgresql_using="gin",
        ),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    # No primary key in the table (see above); the mapper needs one, and (ts, id) is unique.
    __mapper_args__ = {"primary_key": ["ts", "id"]}  # noqa: RUF012

    id: Mapped[int] = mapped_column(BigInteger, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[str] = mapped_column(LEVEL_ENUM)
    service: Mapped[str] = mapped_column(Text)
    namespace: Mapped[str] = mapped_column(Text)
    pod: Mapped[str] = mapped_column(Text)
    container: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(Text)
    stream: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    template_id: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source_topic: Mapped[str | None] = mapped_column(Text)
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)


class DeadLetterRow(Base):
    """A record that could not be stored as a log, with the reason; the partition moved on."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index(
            "dead_letters_source_key",
            "source_topic",
            "source_partition",
            "source_offset",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(Integer)
    source_topic: Mapped[str | None] = mapped_column(Text)
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)


class ConsumerOffsetRow(Base):
    """The next Kafka offset to store per partition, committed with the data it covers."""

    __tablename__ = "consumer_offsets"

    consumer_group: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
