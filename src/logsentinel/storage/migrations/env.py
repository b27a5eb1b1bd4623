"""Alembic environment: online migrations against the URL handed over by migrate.py.

Every runtime migrates at start, so several processes (operator, API, processors) may do so at
once against a new database: a transaction-scoped advisory lock makes them take turns, and each
later one finds the schema at head and does nothing."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from logsentinel.storage.schema import Base

config = context.config
MIGRATION_LOCK = 0x4C53_4D47  # any constant shared by every migrator ("LSMG")

url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL: run migrations through logsentinel.storage.migrate")

connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()
