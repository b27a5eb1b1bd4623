"""Test-wide setup: the local stack fixtures (tools/devstack/pytest_plugin.py), the operator
fixtures (support/operator_fixtures.py) and the real node's (support/node_fixtures.py)."""

pytest_plugins = ["devstack.pytest_plugin", "support.operator_fixtures", "support.node_fixtures"]
