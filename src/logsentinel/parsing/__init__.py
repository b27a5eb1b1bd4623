"""Decoding Fluent Bit and HTTP records, format parsers, normalisation and template mining.

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
