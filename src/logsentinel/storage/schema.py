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
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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


class IncidentRow(Base):
    """An incident as the processors opened it; resolved_at is NULL while it is open.

    The Incident custom resource (Kubernetes mode) carries the same spec; this table is what the
    processors deduplicate against and what the API lists.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "incidents_open_fingerprint",
            "fingerprint",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("incidents_fingerprint_resolved", "fingerprint", "resolved_at"),
        Index("incidents_opened_at", text("opened_at DESC")),
    )

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    namespace: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text)
    group_key: Mapped[dict[str, Any]] = mapped_column(JSONB)
    incident_type: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    phase: Mapped[str] = mapped_column(Text, server_default="Open")
    summary: Mapped[str] = mapped_column(Text, server_default="")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurrences: Mapped[int] = mapped_column(Integer)
    target: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source_topic: Mapped[str | None] = mapped_column(Text)
    source_partition: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str] = mapped_column(Text, server_default="")
    annotations: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    """Compose mode: what Kubernetes mode keeps in the Incident object's annotations (the
    remediation progress, approval, acknowledgement and resolve requests)."""
    remediation_status: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """Compose mode: the Incident object's status (actions taken, playbook, acknowledgement)."""


class IncidentEventRow(Base):
    """The timeline of an incident: opened, recurred, resolved, and later human actions."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("incident_events_incident_at", "incident", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident: Mapped[str] = mapped_column(Text, ForeignKey("incidents.name", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class RuleBucketRow(Base):
    """Selected and matched records of a rule for one group key in one interval.

    Written by the processors after each batch; read to rebuild detector baselines after a
    rebalance and to verify that a remediated signal is back under its threshold.
    """

    __tablename__ = "rule_buckets"
    __table_args__ = (Index("rule_buckets_partition", "source_partition", "rule", "bucket_start"),)

    rule: Mapped[str] = mapped_column(Text, primary_key=True)
    group_key: Mapped[list[str]] = mapped_column(ARRAY(Text), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    width_seconds: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    features: Mapped[list[float] | None] = mapped_column(ARRAY(Float))
    source_topic: Mapped[str | None] = mapped_column(Text)
    source_partition: Mapped[int | None] = mapped_column(Integer)


class TemplateRow(Base):
    """A log template the processors mined: its id was fixed when the event was first seen and
    is kept when the template generalises; text is its latest text. merged_into: the id of a
    template this one turned out to be the same event as (it generalised to that one's text).

    Saved in the transaction of the records that first used it (storage/templates.py); the most
    recently seen seed a processor's miner at start.
    """

    __tablename__ = "templates"
    __table_args__ = (Index("templates_last_seen", text("last_seen DESC")),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    merged_into: Mapped[str | None] = mapped_column(Text)


class TemplateAliasRow(Base):
    """A text a template has had (its first, and each it generalised to), keyed by a digest of
    the text: a miner that creates a template with a known text gives it this id."""

    __tablename__ = "template_aliases"
    __table_args__ = (Index("template_aliases_template", "template_id"),)

    digest: Mapped[str] = mapped_column(Text, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    template_id: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ServiceTemplateRow(Base):
    """A template a service has logged, and when it first did (event time): what the newPattern
    detector knows of the service, loaded by the processor that takes over its partition."""

    __tablename__ = "service_templates"
    __table_args__ = (Index("service_templates_partition", "source_topic", "source_partition"),)

    namespace: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    template_id: Mapped[str] = mapped_column(Text, primary_key=True)
    source_topic: Mapped[str] = mapped_column(Text)
    source_partition: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """Who did what, when: every remediation step (dry runs and guard refusals included) and
    every human action: on incidents, rules and playbooks, users and keys, and logins."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("audit_log_at", text("at DESC")),
        Index("audit_log_playbook_at", "playbook", "at"),
        Index("audit_log_target_at", "target_namespace", "target_name", "at"),
        Index("audit_log_incident", "incident", "at"),
        Index("audit_log_action_at", "action", text("at DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    incident: Mapped[str | None] = mapped_column(Text)
    playbook: Mapped[str | None] = mapped_column(Text)
    step: Mapped[str | None] = mapped_column(Text)
    target_kind: Mapped[str | None] = mapped_column(Text)
    target_namespace: Mapped[str | None] = mapped_column(Text)
    target_name: Mapped[str | None] = mapped_column(Text)
    guard: Mapped[str | None] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(server_default=text("false"))
    message: Mapped[str] = mapped_column(Text, server_default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class PipelineHeartbeatRow(Base):
    """How far behind each processor is on each partition it owns, refreshed every few seconds.

    The operator refuses to remediate when a heartbeat is stale or a lag exceeds its bound:
    missing data looks like recovery.
    """

    __tablename__ = "pipeline_heartbeats"

    consumer: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    lag_records: Mapped[int] = mapped_column(BigInteger)
    lag_seconds: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UserRow(Base):
    """An API user; password_hash is argon2id."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="users_role_known"),
    )

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKeyRow(Base):
    """An ingest API key: the id is public (it prefixes the key), the secret only hashed."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshTokenRow(Base):
    """Issued refresh tokens by id, so that one can be revoked (logout, rotation)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("refresh_tokens_username", "username"),)

    jti: Mapped[str] = mapped_column(Text, primary_key=True)
    username: Mapped[str] = mapped_column(Text, ForeignKey("users.username", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ComposeMarkerRow(Base):
    """Compose mode: the last remediation action on a service (what Kubernetes mode keeps in an
    annotation on the workload), for restart safety and the cooldown."""

    __tablename__ = "compose_markers"

    project: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    marker: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ComposeImageRow(Base):
    """Compose mode: every image a service was seen running, so that a rollback knows the one
    before the current (Docker keeps no history of a service)."""

    __tablename__ = "compose_images"

    project: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    image_id: Mapped[str] = mapped_column(Text, primary_key=True)
    reference: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlaybookStatusRow(Base):
    """Compose mode: a Playbook's status (the circuit breaker), which Kubernetes mode keeps on
    the Playbook object."""

    __tablename__ = "playbook_status"

    namespace: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
