"""Test-wide setup: the local stack fixtures (tools/devstack/pytest_plugin.py) and the operator
fixtures (support/operator_fixtures.py)."""

pytest_plugins = ["devstack.pytest_plugin", "support.operator_fixtures"]
