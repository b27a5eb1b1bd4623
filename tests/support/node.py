"""Helpers of the real node's tests and benchmark: the operator as a Deployment of the product
image (its ServiceAccount bound to the operator's ClusterRole, probes on /healthz), the examples
moved into a test namespace, conditions and pod logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from devstack.pytest_plugin import Kubectl
from support.operator import ROLE_NAME, get_json

REPO = Path(__file__).resolve().parents[2]
OPERATOR = "logsentinel-operator"
HEALTH_PORT = 8080


def operator_deployment(namespace: str, image: str, database_url: str) -> dict[str, Any]:
    """The operator as a one-replica Deployment with readiness and liveness probes on /healthz,
    watching only ``namespace``."""
    environment = {
        "LOGSENTINEL_DATABASE_URL": database_url,
        "LOGSENTINEL_NAMESPACES": json.dumps([namespace]),
        "LOGSENTINEL_CENTRAL_NAMESPACE": namespace,
        "LOGSENTINEL_HEALTH_PORT": str(HEALTH_PORT),
        "LOGSENTINEL_IDLE_POLL": "PT2S",
    }
    health = {"httpGet": {"path": "/healthz", "port": "health"}}
    labels = {"app.kubernetes.io/name": OPERATOR}
    pod_name = {"fieldPath": "metadata.name"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": OPERATOR, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": ROLE_NAME,
                    "containers": [
                        {
                            "name": "operator",
                            "image": image,
                            "args": ["operator"],
                            "env": [
                                *({"name": k, "value": v} for k, v in environment.items()),
                                # Kopf's peering identity: the pod's name.
                                {"name": "POD_ID", "valueFrom": {"fieldRef": pod_name}},
                            ],
                            "ports": [{"name": "health", "containerPort": HEALTH_PORT}],
                            # Probed every second until /healthz first answers (for up
                            # to 2 min: migrations run first); then readiness every 5 s,
                            # and a restart after 30 s of silence.
                            "startupProbe": {**health, "periodSeconds": 1, "failureThreshold": 120},
                            "readinessProbe": {**health, "periodSeconds": 5},
                            "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 3},
                        }
                    ],
                },
            },
        },
    }


def pod_logs(kubectl: Kubectl, namespace: str, name: str) -> str:
    return kubectl("logs", name, "-n", namespace, "--all-containers", check=False).stdout


def example(path: str, namespace: str) -> dict[str, Any]:
    """An example manifest moved into ``namespace`` (its selector too, for rules)."""
    document: dict[str, Any] = yaml.safe_load((REPO / "examples" / path).read_text())
    document["metadata"]["namespace"] = namespace
    selector = document["spec"].get("selector")
    if isinstance(selector, dict) and "namespaces" in selector:
        selector["namespaces"] = [namespace]
    return document


def condition(kubectl: Kubectl, namespace: str, kind: str, name: str, type_: str) -> str | None:
    status = get_json(kubectl, kind, name, "-n", namespace).get("status") or {}
    found = next((c for c in status.get("conditions", []) if c["type"] == type_), {})
    return found.get("status")
