"""The API in-process for tests (FastAPI's TestClient), logged in as its bootstrap admin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings

ADMIN = ("root", "correct horse battery staple")


@contextmanager
def logged_in_api(database_url: str, kube_config: str | None = None) -> Iterator[TestClient]:
    """With kube_config: Kubernetes mode (incidents, rules and playbooks are the objects)."""
    settings = ApiSettings(
        database_url=database_url,
        jwt_secret="test-api-secret-" + "x" * 40,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        kubernetes=kube_config is not None,
        kubeconfig=kube_config,
        kafka_bootstrap=None,  # ingest into PostgreSQL, whatever the environment says
    )
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
