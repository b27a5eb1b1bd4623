"""Rules and playbooks through the API in Kubernetes mode: they are the custom resources."""

from __future__ import annotations

import json

import pytest

from devstack.pytest_plugin import Kubectl
from support.api import logged_in_api

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
    with logged_in_api(database_url, kube_config) as client:
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
