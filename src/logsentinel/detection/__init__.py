"""Detectors and the incident builder (fingerprint, dedup, evidence).

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
