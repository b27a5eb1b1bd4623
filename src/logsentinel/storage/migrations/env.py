"""Alembic environment: online migrations against the URL handed over by migrate.py."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from logsentinel.storage.schema import Base

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL: run migrations through logsentinel.storage.migrate")

connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
