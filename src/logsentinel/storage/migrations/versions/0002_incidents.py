"""Incidents, their event timeline, and per-rule per-interval aggregates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.func.now()
    op.create_table(
        "incidents",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("namespace", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("group_key", postgresql.JSONB, nullable=False),
        sa.Column("incident_type", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False, server_default="Open"),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("target", postgresql.JSONB),
        sa.Column("evidence", postgresql.JSONB, nullable=False),
        sa.Column("source_topic", sa.Text),
        sa.Column("source_partition", sa.Integer),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolution", sa.Text, nullable=False, server_default=""),
    )
    # The database's guarantee behind dedup: one open incident per fingerprint.
    op.create_index(
        "incidents_open_fingerprint",
        "incidents",
        ["fingerprint"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("incidents_fingerprint_resolved", "incidents", ["fingerprint", "resolved_at"])
    op.create_index("incidents_opened_at", "incidents", [sa.text("opened_at DESC")])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "incident",
            sa.Text,
            sa.ForeignKey("incidents.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("incident_events_incident_at", "incident_events", ["incident", "at"])
    op.create_table(
        "rule_buckets",
        sa.Column("rule", sa.Text, primary_key=True),
        sa.Column("group_key", postgresql.ARRAY(sa.Text), primary_key=True),
        sa.Column("bucket_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("width_seconds", sa.Integer, nullable=False),
        sa.Column("matched", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("features", postgresql.ARRAY(sa.Float)),
        sa.Column("source_topic", sa.Text),
        sa.Column("source_partition", sa.Integer),
    )
    op.create_index(
        "rule_buckets_partition", "rule_buckets", ["source_partition", "rule", "bucket_start"]
    )


def downgrade() -> None:
    op.drop_table("rule_buckets")
    op.drop_table("incident_events")
    op.drop_table("incidents")
