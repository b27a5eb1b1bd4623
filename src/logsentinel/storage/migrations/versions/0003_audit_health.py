"""The audit log of remediation and human actions, and the processors' pipeline heartbeats.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.func.now()
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("incident", sa.Text),
        sa.Column("playbook", sa.Text),
        sa.Column("step", sa.Text),
        sa.Column("target_kind", sa.Text),
        sa.Column("target_namespace", sa.Text),
        sa.Column("target_name", sa.Text),
        sa.Column("guard", sa.Text),
        sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("audit_log_at", "audit_log", [sa.text("at DESC")])
    op.create_index("audit_log_playbook_at", "audit_log", ["playbook", "at"])
    op.create_index("audit_log_target_at", "audit_log", ["target_namespace", "target_name", "at"])
    op.create_index("audit_log_incident", "audit_log", ["incident", "at"])
    op.create_table(
        "pipeline_heartbeats",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("lag_records", sa.BigInteger, nullable=False),
        sa.Column("lag_seconds", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )


def downgrade() -> None:
    op.drop_table("pipeline_heartbeats")
    op.drop_table("audit_log")
