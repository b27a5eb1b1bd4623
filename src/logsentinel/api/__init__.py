"""The FastAPI service: auth, routes, schemas and the dashboard.

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
