"""Template ids the processors mined: each template's current text and when it was first and
last seen, the texts every id has had (aliases), which ids turned out to be one event, and which
templates each service has logged (the newPattern detector's memory across rebalances).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.func.now()
    op.create_table(
        "templates",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("merged_into", sa.Text),
    )
    op.create_index("templates_last_seen", "templates", [sa.text("last_seen DESC")])
    op.create_table(
        "template_aliases",
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("template_id", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_index("template_aliases_template", "template_aliases", ["template_id"])
    op.create_table(
        "service_templates",
        sa.Column("namespace", sa.Text, primary_key=True),
        sa.Column("service", sa.Text, primary_key=True),
        sa.Column("template_id", sa.Text, primary_key=True),
        sa.Column("source_topic", sa.Text, nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "service_templates_partition", "service_templates", ["source_topic", "source_partition"]
    )


def downgrade() -> None:
    op.drop_table("service_templates")
    op.drop_table("template_aliases")
    op.drop_table("templates")
