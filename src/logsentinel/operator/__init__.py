"""Kopf handlers: registrations, status conditions, LogPipeline rendering.

Layering: docs/architecture.md (checked by the import-linter contracts in pyproject.toml).
"""
