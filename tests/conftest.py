"""Test-wide setup: the local stack fixtures (tools/devstack/pytest_plugin.py)."""

pytest_plugins = ["devstack.pytest_plugin"]
