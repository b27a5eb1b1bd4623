"""Rules and playbooks through the API in Kubernetes mode: they are the custom resources."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from devstack.pytest_plugin import Kubectl
from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings

pytestmark = pytest.mark.e2e

RULE = {
    "match": {"levels": ["error"]},
    "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
    "severity": "high",
    "incidentType": "ErrorBurst",
}


def test_rules_written_through_the_api_are_detection_rule_objects(
    crds: Kubectl, kube_namespace: str, kube_config: str, database_url: str
) -> None:
    settings = ApiSettings(
        database_url=database_url,
        jwt_secret="kube-api-secret-" + "x" * 40,
        admin_username="root",
        admin_password="correct horse battery staple",
        kubernetes=True,
        kubeconfig=kube_config,
    )
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login",
            json={"username": "root", "password": "correct horse battery staple"},
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        path = f"/api/v1/rules/{kube_namespace}/error-burst"
        assert client.put(path, json=RULE).status_code == 201
        stored = json.loads(
            crds("get", "dr", "error-burst", "-n", kube_namespace, "-o", "json").stdout
        )
        assert stored["spec"]["detector"]["threshold"]["count"] == 5
        changed = {**RULE, "detector": {"type": "ratio", "ratio": {"above": 0.2}}}
        assert client.put(path, json=changed).status_code == 200
        stored = json.loads(
            crds("get", "dr", "error-burst", "-n", kube_namespace, "-o", "json").stdout
        )
        assert stored["spec"]["detector"]["type"] == "ratio"
        assert "threshold" not in stored["spec"]["detector"], "the spec is replaced, not merged"
        listed = client.get("/api/v1/rules", params={"namespace": kube_namespace}).json()
        assert [r["metadata"]["name"] for r in listed] == ["error-burst"]
        assert client.delete(path).status_code == 204
        gone = crds("get", "dr", "error-burst", "-n", kube_namespace, check=False)
        assert gone.returncode != 0
        assert client.get(path).status_code == 404
