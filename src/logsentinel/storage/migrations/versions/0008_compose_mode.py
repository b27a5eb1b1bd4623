"""Compose mode: incidents carry what Kubernetes mode keeps on the Incident object (annotations
and status), playbooks their status (the circuit breaker), and services' last remediation
action and the images they ran are remembered.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "incidents", sa.Column("annotations", JSONB(), server_default="{}", nullable=False)
    )
    op.add_column("incidents", sa.Column("remediation_status", JSONB(), nullable=True))
    op.create_table(
        "compose_markers",
        sa.Column("project", sa.Text(), primary_key=True),
        sa.Column("service", sa.Text(), primary_key=True),
        sa.Column("marker", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "compose_images",
        sa.Column("project", sa.Text(), primary_key=True),
        sa.Column("service", sa.Text(), primary_key=True),
        sa.Column("image_id", sa.Text(), primary_key=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "playbook_status",
        sa.Column("namespace", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("status", JSONB(), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("playbook_status")
    op.drop_table("compose_images")
    op.drop_table("compose_markers")
    op.drop_column("incidents", "remediation_status")
    op.drop_column("incidents", "annotations")
