"""The Kafka consumer loop wiring parsing, storage, detection and incidents.

Layering: docs/architecture.md (checked by the import-linter contracts in pyproject.toml).
"""
