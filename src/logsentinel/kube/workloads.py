"""Workloads, their ReplicaSets and pods, Jobs, and Secrets through the Kubernetes API, as raw
JSON.

The remediation executor's window on the cluster. Objects are read and returned as the
apiserver sent them rather than as the client's models, so that a rollback copies an old pod
template back exactly as stored, including fields this client version does not know. Every call
goes through the bounded retry of :func:`logsentinel.kube.errors.call` and raises its KubeError
subclasses (KubeNotFoundError for a 404, KubeConflictError for a failed precondition).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client

from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.domain.types import Json
from logsentinel.kube.errors import KubeConflictError, KubeError, KubeNotFoundError, call
from logsentinel.kube.objects import FIELD_MANAGER

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

_METHOD_SUFFIX = {
    WorkloadKind.DEPLOYMENT: "deployment",
    WorkloadKind.STATEFUL_SET: "stateful_set",
    WorkloadKind.DAEMON_SET: "daemon_set",
}


def describe(target: WorkloadRef) -> str:
    """``Deployment shop/checkout``."""
    return f"{target.kind.value} {target.namespace}/{target.name}"


class WorkloadApi:
    """Reads and patches of Deployments, StatefulSets and DaemonSets (with this product's field
    manager), their ReplicaSets and pods, and Secrets; each request bounded by
    ``request_timeout`` seconds."""

    def __init__(self, api_client: client.ApiClient, *, request_timeout: float = 10.0) -> None:
        self._apps = client.AppsV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._timeout = (min(request_timeout, 5.0), request_timeout)

    def read(self, target: WorkloadRef) -> Json:
        read = getattr(self._apps, f"read_namespaced_{_METHOD_SUFFIX[target.kind]}")
        return self._json(
            f"read {describe(target)}",
            lambda: read(
                target.name,
                target.namespace,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )

    def patch(self, target: WorkloadRef, body: Json, action: str) -> Json:
        """A strategic merge patch; ``action`` names it in errors."""
        return self._send_patch(target, body, STRATEGIC_MERGE, action)

    def json_patch(self, target: WorkloadRef, operations: list[Json], action: str) -> Json:
        """A JSON patch (its test operations make it conditional)."""
        return self._send_patch(target, operations, JSON_PATCH, action)

    def read_replica_set(self, namespace: str, name: str) -> Json | None:
        """The ReplicaSet, or None when it does not exist."""
        try:
            return self._json(
                f"read ReplicaSet {namespace}/{name}",
                lambda: self._apps.read_namespaced_replica_set(
                    name, namespace, _preload_content=False, _request_timeout=self._timeout
                ),
            )
        except KubeNotFoundError:
            return None

    def list_replica_sets(self, namespace: str, label_selector: str | None) -> list[Json]:
        list_namespaced = self._apps.list_namespaced_replica_set
        return self._items("ReplicaSets", list_namespaced, namespace, label_selector)

    def read_pod(self, namespace: str, name: str) -> Json | None:
        """The pod, or None when it does not exist."""
        try:
            return self._json(
                f"read Pod {namespace}/{name}",
                lambda: self._core.read_namespaced_pod(
                    name, namespace, _preload_content=False, _request_timeout=self._timeout
                ),
            )
        except KubeNotFoundError:
            return None

    def delete_pod(self, namespace: str, name: str, uid: str) -> bool:
        """Delete exactly the pod with this uid; False when it is already gone or replaced
        (StatefulSet pods come back under the same name)."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            self._json(
                f"delete Pod {namespace}/{name}",
                lambda: self._core.delete_namespaced_pod(
                    name,
                    namespace,
                    body=options,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                ),
            )
        except (KubeNotFoundError, KubeConflictError):
            return False
        return True

    def create_job(self, job: Json) -> tuple[Json, bool]:
        """Create the Job, or read the one of the same name: (the Job, whether it is new)."""
        meta = job["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        body: Any = job  # sent as the JSON it is; the client's models would drop unknown fields
        try:
            created = self._json(
                f"create Job {namespace}/{name}",
                lambda: self._batch.create_namespaced_job(
                    namespace,
                    body,
                    field_manager=FIELD_MANAGER,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                ),
            )
        except KubeConflictError:
            return self.read_job(namespace, name), False
        return created, True

    def read_job(self, namespace: str, name: str) -> Json:
        return self._json(
            f"read Job {namespace}/{name}",
            lambda: self._batch.read_namespaced_job(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def list_pods(self, namespace: str, label_selector: str) -> list[Json]:
        return self._items("Pods", self._core.list_namespaced_pod, namespace, label_selector)

    def log_tail(self, namespace: str, pod: str, lines: int) -> str:
        """The last ``lines`` lines of the pod's (only) container log."""

        def read() -> str:
            answer: Any = self._core.read_namespaced_pod_log(
                pod,
                namespace,
                tail_lines=lines,
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            return bytes(answer.data).decode("utf-8", errors="replace")

        return call(f"read the log of Pod {namespace}/{pod}", read)

    def read_secret(self, namespace: str, name: str) -> Json:
        """The Secret as stored (its data base64-encoded; see kube.secrets)."""
        return self._json(
            f"read Secret {namespace}/{name}",
            lambda: self._core.read_namespaced_secret(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def _send_patch(
        self, target: WorkloadRef, body: object, content_type: str, action: str
    ) -> Json:
        patch = getattr(self._apps, f"patch_namespaced_{_METHOD_SUFFIX[target.kind]}")
        return self._json(
            f"{action} {describe(target)}",
            lambda: patch(
                target.name,
                target.namespace,
                body,
                field_manager=FIELD_MANAGER,
                _content_type=content_type,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )

    def _items(
        self, kind: str, list_namespaced: Callable[..., Any], namespace: str, selector: str | None
    ) -> list[Json]:
        """The objects a list_namespaced_* call returns for a label selector."""
        listing = self._json(
            f"list {kind} in {namespace}",
            lambda: list_namespaced(
                namespace,
                label_selector=selector,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )
        return list(listing.get("items") or [])

    @staticmethod
    def _json(operation: str, request: Callable[[], Any]) -> Json:
        """The JSON answer of a request made with ``_preload_content=False``, through call()."""

        def run() -> Json:
            document = json.loads(request().data)
            if not isinstance(document, dict):
                raise KubeError(f"{operation}: unexpected answer {type(document).__name__}")
            return document

        return call(operation, run)
