"""Fixtures of the tests on the real node (tests/node, tests/chaos), registered for every test by
tests/conftest.py. ``operator_pod`` installs the chart's operator in the test's namespace;
``diagnostics`` prints what the namespace's objects and pods did (pytest shows it when the test
fails). A test that measures something worth reporting records it with the
``node_figure`` fixture; a run that recorded figures ends with one line
``RESULT <name>=<value> ...`` (`make chart-test` prints ``helm_install_ready_s`` this way)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest

from devstack.pytest_plugin import Kubectl
from support.node import CHART, POD_TIMEOUT, chart_values, pod_logs
from support.operator import get_json

_figures: dict[str, float] = {}


@pytest.fixture
def node_figure() -> Callable[[str, float], None]:
    """Record a named figure for the run's RESULT line."""

    def record(name: str, value: float) -> None:
        _figures[name] = value

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _figures:
        figures = " ".join(
            f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}"
            for name, value in sorted(_figures.items())
        )
        terminalreporter.write_line(f"RESULT {figures}")


@pytest.fixture
def diagnostics(kubectl: Kubectl, node_namespace: str) -> Iterator[None]:
    """On the way out, print what the namespace's pods did (pytest shows it when a test fails)."""
    yield
    for kind in ("logpipelines", "incidents", "daemonsets"):
        for item in get_json(kubectl, kind, "-n", node_namespace)["items"]:
            print(f"--- {kind} {item['metadata']['name']}: {json.dumps(item.get('status'))}")
    pods = get_json(kubectl, "pods", "-n", node_namespace)["items"]
    for pod in pods:
        name = pod["metadata"]["name"]
        print(f"--- pod {name}: {json.dumps(pod.get('status', {}).get('containerStatuses'))}")
        print(pod_logs(kubectl, node_namespace, name)[-8000:])


@pytest.fixture
def operator_pod(
    crds: Kubectl,
    helm: Kubectl,
    node_namespace: str,
    logsentinel_image: str,
    pod_database_url: str,
) -> Iterator[str]:
    """The chart's operator (no API) running in a pod on the real node, Ready; yields the
    release name. The operator creates its own peering object."""
    kubectl, release = crds, f"op-{uuid.uuid4().hex[:6]}"
    values = chart_values(logsentinel_image, pod_database_url, node_namespace)
    try:
        helm(
            "install", release, str(CHART), "-n", node_namespace, *values,
            "--set", "api.enabled=false", "--set", "operator.createPeering=false",
            "--wait", f"--timeout={POD_TIMEOUT}s", timeout=POD_TIMEOUT + 30,
        )  # fmt: skip
        yield release
        # while the operator runs, so that it releases its finalizers
        for kind in ("logpipeline", "detectionrule", "incident"):
            kubectl("delete", kind, "--all", "-n", node_namespace, "--timeout=60s", check=False)
    finally:
        helm("uninstall", release, "-n", node_namespace, "--wait", check=False)
