"""Helpers of the real node's tests and benchmark: the Helm chart's values for the local image,
a release's pods, the examples moved into a test namespace, conditions and pod logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devstack.pytest_plugin import Kubectl
from support.operator import get_json

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "logsentinel"
POD_TIMEOUT = 120
"""Seconds a pod on the real node gets to start (images are local: most of it is scheduling)."""


def chart_values(
    image: str, database_url: str, namespace: str, *, default_rules: bool = False
) -> list[str]:
    """`helm install` arguments that run the chart from the local image against the given
    database, its operator watching only ``namespace``; the default rule pack only when asked
    (tests assert the incidents of their own rules)."""
    repository, _, tag = image.rpartition(":")
    return [
        "--set", f"image.repository={repository}",
        "--set", f"image.tag={tag}",
        "--set", f"database.url={database_url}",
        "--set-json", f'operator.watchNamespaces=["{namespace}"]',
        "--set", f"defaultRules.enabled={str(default_rules).lower()}",
    ]  # fmt: skip


def release_pods(kubectl: Kubectl, namespace: str, release: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={release}"
    pods: list[dict[str, Any]] = get_json(kubectl, "pods", "-n", namespace, "-l", selector)["items"]
    return pods


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


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
