"""The playbook engine (matching, guards, steps, verification) and its Kubernetes executor.

Layering: docs/architecture.md (checked by the import-linter contracts in pyproject.toml).
"""
