"""The operator as a Deployment for the real node's tests and benchmark: one replica of the
product image, its ServiceAccount bound to the operator's ClusterRole, health probes on /healthz."""

from __future__ import annotations

import json
from typing import Any

from support.operator import ROLE_NAME

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
