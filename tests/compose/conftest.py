"""Fixtures of the Compose tests that drive a Docker engine directly: Podman's Docker API
started by devstack (as `make compose-up` starts it), a Compose project name of the test's own
whose containers are removed afterwards, and the Docker executor with its memory in the test's
PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import docker
import psycopg
import pytest

from devstack import compose, images
from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.remediation.docker import (
    PROJECT_LABEL,
    DockerExecutor,
)
from logsentinel.storage import migrate
from logsentinel.storage.compose import DatabaseServiceMemory
from logsentinel.storage.urls import libpq_url
from support.compose_engine import SERVICE, Engine


@pytest.fixture
def engine() -> Iterator[Engine]:
    target = compose.target(f"lsexec-{uuid.uuid4().hex[:8]}")  # starts Podman's engine here
    client = docker.DockerClient(base_url=target.env["DOCKER_HOST"])
    good, bad = images.build_sample_app(images.build_base())[:2]
    service = WorkloadRef(kind=WorkloadKind.COMPOSE_SERVICE, namespace=target.project, name=SERVICE)
    try:
        yield Engine(client, target.env["DOCKER_HOST"], target.project, good, bad, service)
    finally:
        for container in client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={target.project}"}
        ):
            container.remove(force=True)
        client.close()


@pytest.fixture
def executor(engine: Engine, database_url: str) -> DockerExecutor:
    """The executor on the engine, its memory in the test's (migrated) database."""
    migrate.upgrade(database_url)

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(libpq_url(database_url), autocommit=True)

    return DockerExecutor(engine.client, DatabaseServiceMemory(connect), start_wait=60)
