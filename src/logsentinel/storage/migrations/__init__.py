"""Alembic migration scripts for Log Sentinel's schema."""
