"""The playbook engine (matching, guards, steps) and its Kubernetes and Docker executors.

Layering (DESIGN.md): see the import-linter contracts in pyproject.toml.
"""
