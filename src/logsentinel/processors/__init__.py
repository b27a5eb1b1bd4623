"""The Kafka consumer loop wiring parsing, storage, detection and incidents.

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
