"""Logs (partitioned by day), dead letters and consumer offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "unknown")


def upgrade() -> None:
    level = postgresql.ENUM(*LEVELS, name="log_level", create_type=False)
    level.create(op.get_bind(), checkfirst=True)
    # A sequence, not an identity column: identity on partitioned tables needs PostgreSQL 17.
    op.execute("CREATE SEQUENCE logs_id_seq")
    op.create_table(
        "logs",
        sa.Column(
            "id", sa.BigInteger, server_default=sa.text("nextval('logs_id_seq')"), nullable=False
        ),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", level, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("namespace", sa.Text, nullable=False),
        sa.Column("pod", sa.Text, nullable=False),
        sa.Column("container", sa.Text, nullable=False),
        sa.Column("node", sa.Text, nullable=False),
        sa.Column("stream", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("template_id", sa.Text),
        sa.Column("trace_id", sa.Text),
        sa.Column("attributes", postgresql.JSONB, nullable=False),
        sa.Column("source_topic", sa.Text),
        sa.Column("source_partition", sa.Integer),
        sa.Column("source_offset", sa.BigInteger),
        postgresql_partition_by="RANGE (ts)",
    )
    op.execute("ALTER SEQUENCE logs_id_seq OWNED BY logs.id")
    op.create_index("logs_service_ts", "logs", ["service", sa.text("ts DESC")])
    op.create_index(
        "logs_message_fts",
        "logs",
        [sa.text("to_tsvector('simple', message)")],
        postgresql_using="gin",
    )
    op.create_index("logs_ts_brin", "logs", ["ts"], postgresql_using="brin")
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("payload_size", sa.Integer, nullable=False),
        sa.Column("source_topic", sa.Text),
        sa.Column("source_partition", sa.Integer),
        sa.Column("source_offset", sa.BigInteger),
    )
    op.create_index(
        "dead_letters_source_key",
        "dead_letters",
        ["source_topic", "source_partition", "source_offset"],
        unique=True,
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("consumer_offsets")
    op.drop_table("dead_letters")
    op.drop_table("logs")
    postgresql.ENUM(name="log_level").drop(op.get_bind(), checkfirst=True)
