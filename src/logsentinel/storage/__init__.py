"""PostgreSQL storage: SQLAlchemy models, Alembic migrations, the bulk COPY writer and queries.

Layering (docs/architecture.md): imports only logsentinel.domain; the runtimes import this.
"""
