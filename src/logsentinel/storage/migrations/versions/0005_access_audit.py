"""Indexes for disabling users (their refresh tokens are revoked) and for listing the audit log
by action (logins, administrative changes); users' roles checked by the database too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("refresh_tokens_username", "refresh_tokens", ["username"])
    op.create_index("audit_log_action_at", "audit_log", ["action", sa.text("at DESC")])
    op.create_check_constraint(
        "users_role_known", "users", "role IN ('admin', 'operator', 'viewer')"
    )


def downgrade() -> None:
    op.drop_constraint("users_role_known", "users", type_="check")
    op.drop_index("audit_log_action_at", table_name="audit_log")
    op.drop_index("refresh_tokens_username", table_name="refresh_tokens")
