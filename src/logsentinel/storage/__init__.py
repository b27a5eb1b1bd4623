"""SQLAlchemy models, Alembic migrations, the bulk COPY writer and queries.

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
