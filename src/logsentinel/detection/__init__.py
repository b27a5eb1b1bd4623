"""Detectors and the incident builder (fingerprint, dedup, evidence).

Layering: docs/architecture.md (checked by the import-linter contracts in pyproject.toml).
"""
