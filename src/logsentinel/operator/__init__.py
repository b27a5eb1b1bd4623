"""Kopf handlers: registrations, status conditions, LogPipeline rendering.

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
