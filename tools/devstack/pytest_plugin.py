"""pytest fixtures that give integration and e2e tests real servers.

Register with ``pytest_plugins = ["devstack.pytest_plugin"]``. Session fixtures:
``postgres_url``, ``kafka_bootstrap``, ``kube_config`` (kubeconfig path), ``kubectl`` and ``helm``.
Each uses the server named by its environment variable (``LOGSENTINEL_DATABASE_URL``,
``LOGSENTINEL_KAFKA_BOOTSTRAP``, ``KUBECONFIG``) when set; otherwise it reuses a healthy
``.stack/`` instance or starts one, and stops at session end only what it started itself.
A missing prerequisite fails the test (never skips: a missing server in CI is a failure).

Function fixtures: ``database_url`` (a fresh database per test), ``kafka_topic`` (a unique topic
name, deleted afterwards) and ``kube_namespace`` (a namespace created and deleted per test).

The real node (tests marked ``node``): ``real_node`` (the Node's name), ``logsentinel_image``
(the product image built from this checkout and imported into the node), ``otelcol_image``
(the node agent's image, likewise), ``node_namespace``
(a namespace whose pods run on the real node), and the addresses pods use for the host's
servers: ``pod_database_url`` (the test's database) and ``pod_kafka_bootstrap``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
from psycopg import sql

from devstack import images, kubebuild
from devstack.component import Component
from devstack.errors import StackError
from devstack.kafka import POD_BOOTSTRAP_VAR, Kafka
from devstack.kube import Kube, namespace_manifest
from devstack.node import Node
from devstack.postgres import POD_DATABASE_VAR, Postgres


class Kubectl(Protocol):
    """Runs kubectl (or helm) against the test cluster: ``kubectl("get", "pods", "-n", ns)``."""

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


def _provide(component: Component, request: pytest.FixtureRequest) -> str:
    """Address of the external server, or of a started/reused local one."""
    external = component.external()
    if external:
        return external
    try:
        started = component.start()
    except StackError as exc:
        pytest.fail(f"cannot start {component.name} for the tests:\n{exc}", pytrace=False)
    if started:
        request.addfinalizer(component.stop)
    return component.address()


def unique_name(prefix: str, request: pytest.FixtureRequest, max_len: int = 50) -> str:
    """A DNS-1123-ish name unique to this test: ``<prefix>-<test name>-<random>``."""
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    suffix = uuid.uuid4().hex[:8]
    head = f"{prefix}-{test}"[: max_len - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """URL of a PostgreSQL server for the whole session."""
    return _provide(Postgres(), request)


def with_database(server_url: str, name: str) -> str:
    """``server_url`` (a libpq URL or conninfo) pointing at database ``name``."""
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


@pytest.fixture
def database_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty database that is dropped after the test."""
    name = unique_name("t", request, max_len=60).replace("-", "_")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        create = sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY")  # less WAL than WAL_LOG
        conn.execute(create.format(sql.Identifier(name)))
    yield with_database(postgres_url, name)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """``host:port`` of a Kafka broker for the whole session."""
    return _provide(Kafka(), request)


@pytest.fixture
def kafka_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A topic name no other test uses; the topic (if the test created it) is deleted after."""
    from confluent_kafka.admin import AdminClient

    name = unique_name("test", request, max_len=120)
    yield name
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_topics([name], operation_timeout=30).values():
        with contextlib.suppress(Exception):  # the test may never have created it
            future.result(timeout=30)


@pytest.fixture(scope="session")
def kube_config(request: pytest.FixtureRequest) -> str:
    """Path of a kubeconfig for a cluster with >= 2 Ready (kwok) Nodes."""
    return _provide(Kube(), request)


def _tool_binary(name: str, variable: str) -> str:
    """kubectl or helm: ``$variable``, else the build cache's, else PATH's."""
    for candidate in (os.environ.get(variable), str(kubebuild.binary(name))):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"no {name}: run `python -m devstack build kube` (builds it into the cache) or set"
            f" {variable}",
            pytrace=False,
        )
    return found


def _bound_runner(name: str, binary: str, kube_config: str) -> Kubectl:
    """Run ``binary --kubeconfig=<kube_config> args...``; a failure (with check) fails the test
    with its output."""

    def run(
        *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [binary, f"--kubeconfig={kube_config}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{name} {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    return run


@pytest.fixture(scope="session")
def kubectl(kube_config: str) -> Kubectl:
    """kubectl (from the build cache) bound to the test cluster's kubeconfig."""
    return _bound_runner("kubectl", _tool_binary("kubectl", "LOGSENTINEL_KUBECTL"), kube_config)


@pytest.fixture(scope="session")
def helm(kube_config: str) -> Kubectl:
    """helm (from the build cache) bound to the test cluster's kubeconfig."""
    return _bound_runner("helm", _tool_binary("helm", "LOGSENTINEL_HELM"), kube_config)


@pytest.fixture
def kube_namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace created for this test and deleted after it (without waiting). Its pods are
    placed on the kwok Nodes, where no container starts: tests use images that do not exist."""
    name = unique_name("t", request, max_len=63)
    kubectl("create", "-f", "-", stdin=namespace_manifest(name, kwok=True))
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _pod_address(component: Component, variable: str) -> str:
    """The address pods on the real node use for ``component`` (external or from its state)."""
    found = os.environ.get(variable) or component.exports().get(variable)
    if not found:
        pytest.fail(
            f"{component.name} has no address for pods ({variable}): the pod network needs root;"
            " start the stack with `make up`",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def real_node(kube_config: str, postgres_url: str, kafka_bootstrap: str) -> Iterator[str]:
    """Name of the real Node (containerd + kubelet) joined to the test cluster. Started for the
    session unless it runs (or ``LOGSENTINEL_REAL_NODE`` names one), stopped only if started."""
    node = Node()
    external = node.external()
    if external:
        yield external
        return
    try:
        started = node.start()
    except StackError as exc:
        pytest.fail(f"cannot start the real node for the tests:\n{exc}", pytrace=False)
    yield node.address()
    if started:
        node.stop()


def _on_the_node(tag: str) -> str:
    """Import the local image ``tag`` into the stack's node (unless the node is external)."""
    if not Node().external():
        Node().import_images([tag])
    return tag


@pytest.fixture(scope="session")
def logsentinel_image(real_node: str) -> str:
    """``localhost/logsentinel:<version>`` built from this checkout (cached layers) and present
    on the real node; pods use it with the default pull policy and never pull."""
    return _on_the_node(images.build_logsentinel(images.build_base()))


@pytest.fixture(scope="session")
def otelcol_image(real_node: str) -> str:
    """``localhost/otelcol-logsentinel:<version>``, the node agent, present on the real node."""
    return _on_the_node(images.build_otelcol(images.build_base()))


@pytest.fixture(scope="session")
def sample_app_images(real_node: str) -> list[str]:
    """The sample app's good and failing versions, present on the real node."""
    return [_on_the_node(tag) for tag in images.build_sample_app(images.build_base())]


@pytest.fixture
def node_namespace(
    kubectl: Kubectl, real_node: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A namespace created for this test whose pods run on the real node; deleted after it."""
    name = unique_name("n", request, max_len=63)
    kubectl("create", "-f", "-", stdin=namespace_manifest(name, kwok=False))
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def pod_database_url(database_url: str, postgres_url: str) -> str:
    """The test's fresh database (``database_url``) as pods on the real node reach it."""
    name = str(psycopg.conninfo.conninfo_to_dict(database_url)["dbname"])
    return with_database(_pod_address(Postgres(), POD_DATABASE_VAR), name)


@pytest.fixture(scope="session")
def pod_kafka_bootstrap(kafka_bootstrap: str) -> str:
    """``host:port`` of the Kafka broker as pods on the real node reach it."""
    return _pod_address(Kafka(), POD_BOOTSTRAP_VAR)
