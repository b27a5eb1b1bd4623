"""The FastAPI service: auth, routes and their schemas.

Layering: docs/architecture.md (checked by the import-linter contracts in pyproject.toml).
"""
