"""Fixtures of the tests that run operators (e2e and hostile): CRDs installed, and a Cluster
(namespace, database, ServiceAccount kubeconfig, peering object) on which tests start operator
processes. Registered for every test by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.pytest_plugin import Kubectl
from logsentinel.storage import migrate
from support.operator import Cluster, create_peering, delete_binding, service_account_kubeconfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crds(kubectl: Kubectl) -> Kubectl:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    return kubectl


@pytest.fixture
def cluster(
    crds: Kubectl,
    kube_config: str,
    kube_namespace: str,
    database_url: str,
    tmp_path: Path,
) -> Iterator[Cluster]:
    migrate.upgrade(database_url)
    kubeconfig = service_account_kubeconfig(crds, kube_config, kube_namespace, tmp_path)
    create_peering(crds, kube_namespace)
    running = Cluster(crds, kube_namespace, database_url, kubeconfig, tmp_path)
    yield running
    running.close()
    delete_binding(crds, kube_namespace)
    for process in running.operators:  # shown by pytest when the test failed
        print(f"--- {process.log_file.name} ---\n{process.log()[-20000:]}")
