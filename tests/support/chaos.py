"""Helpers of the chaos suite (tests/chaos): the running chain of a scenario, its outcome, the
pipeline's pods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devstack.kube import REAL_NODE
from devstack.pytest_plugin import Kubectl
from support.chain import pod_names, total_stored
from support.operator import get_json
from support.running import eventually

LINES_PER_SECOND = 50
PROCESSORS = 2


@dataclass
class Outcome:
    """What one scenario measured (printed as one line at the end of the run)."""

    passed: bool = False
    written: int = 0
    lost: int = 0
    duplicated: int = 0
    double_actions: int = 0
    recovery_s: float | None = None
    """Fault injected (or ended) -> the chain carries lines again / the backlog is stored."""


@dataclass
class Chain:
    """The running chain of one scenario."""

    namespace: str
    database_url: str
    seen: set[str]

    def stored(self) -> int:
        return total_stored(self.database_url, self.namespace)

    def flowing(self, kubectl: Kubectl, more: int, timeout: float = 120) -> None:
        """Wait until ``more`` further lines are stored (the chain carries the app's lines)."""
        target = self.stored() + more
        eventually(f"{more} more lines stored", lambda: self.stored() >= target, timeout)
        self.seen |= pod_names(kubectl, self.namespace)


def component_pods(kubectl: Kubectl, namespace: str, component: str) -> list[dict[str, Any]]:
    """The pipeline's running pods of one component (collector, processor), on the real node."""
    pods = get_json(
        kubectl, "pods", "-n", namespace, "-l", f"app.kubernetes.io/component={component}"
    )["items"]
    return [
        pod
        for pod in pods
        if pod["spec"].get("nodeName") == REAL_NODE and "deletionTimestamp" not in pod["metadata"]
    ]


def ready_count(kubectl: Kubectl, namespace: str, component: str) -> int:
    """How many of the component's pods have every container ready."""
    ready = 0
    for pod in component_pods(kubectl, namespace, component):
        statuses = pod["status"].get("containerStatuses") or []
        ready += bool(statuses) and all(status.get("ready") for status in statuses)
    return ready
