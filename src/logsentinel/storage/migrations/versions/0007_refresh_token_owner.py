"""Every refresh token belongs to a user: refresh_tokens.username is NOT NULL, as the model says
(the schema test compares the models with the migrated database).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM refresh_tokens WHERE username IS NULL")  # unusable: no owner
    op.alter_column("refresh_tokens", "username", nullable=False)


def downgrade() -> None:
    op.alter_column("refresh_tokens", "username", nullable=True)
