"""PostgreSQL storage: SQLAlchemy models, Alembic migrations, the bulk COPY writer and queries.

Layering (DESIGN.md): imports only logsentinel.domain; the runtimes import this.
"""
