"""pytest fixtures that give integration and e2e tests real servers.

Register with ``pytest_plugins = ["devstack.pytest_plugin"]``. Session fixtures:
``postgres_url``, ``kafka_bootstrap``, ``kube_config`` (kubeconfig path) and ``kubectl``.
Each uses the server named by its environment variable (``LOGSENTINEL_DATABASE_URL``,
``LOGSENTINEL_KAFKA_BOOTSTRAP``, ``KUBECONFIG``) when set; otherwise it reuses a healthy
``.stack/`` instance or starts one, and stops at session end only what it started itself.
A missing prerequisite fails the test (never skips: a missing server in CI is a failure).

Function fixtures: ``database_url`` (a fresh database per test), ``kafka_topic`` (a unique topic
name, deleted afterwards) and ``kube_namespace`` (a namespace created and deleted per test).
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

from devstack import kubebuild
from devstack.component import Component
from devstack.errors import StackError
from devstack.kafka import Kafka
from devstack.kube import Kube, namespace_manifest
from devstack.postgres import Postgres


class Kubectl(Protocol):
    """Runs kubectl against the test cluster: ``kubectl("get", "pods", "-n", ns)``."""

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


@pytest.fixture
def database_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty database that is dropped after the test."""
    name = unique_name("t", request, max_len=60).replace("-", "_")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        create = sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY")  # less WAL than WAL_LOG
        conn.execute(create.format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(postgres_url)
    info["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})
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


def _kubectl_binary() -> str:
    for candidate in (os.environ.get("LOGSENTINEL_KUBECTL"), str(kubebuild.binary("kubectl"))):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "no kubectl: run `python -m devstack build kube` (builds it into the cache) or set"
            " LOGSENTINEL_KUBECTL",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def kubectl(kube_config: str) -> Kubectl:
    """kubectl (from the build cache) bound to the test cluster's kubeconfig."""
    binary = _kubectl_binary()

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
                f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    return run


@pytest.fixture
def kube_namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace created for this test and deleted after it (without waiting). Its pods are
    placed on the kwok Nodes, where no container starts: tests use images that do not exist."""
    name = unique_name("t", request, max_len=63)
    kubectl("create", "-f", "-", stdin=namespace_manifest(name, kwok=True))
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
