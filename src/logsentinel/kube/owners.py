"""Which workload a pod belongs to: controller owner references, cached.

Pod -> ReplicaSet -> Deployment, and Pod -> StatefulSet / DaemonSet, give a WorkloadRef (the
kinds a playbook can remediate). Anything else (a bare pod, a Job, a ReplicaSet without a
Deployment) has no remediable target and resolves to None, as do pods that do not exist.
Lookups never raise: with the apiserver unreachable the answer is None and a warning is
logged, because an incident is still worth opening without a target.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.domain.types import Json
from logsentinel.kube.errors import describe_failure, is_transient, status_of

log = structlog.get_logger("logsentinel.kube")
_SERIALIZER = client.ApiClient()
"""Only turns typed objects into their JSON form (no requests are made with it)."""

DIRECT_KINDS = {
    "StatefulSet": WorkloadKind.STATEFUL_SET,
    "DaemonSet": WorkloadKind.DAEMON_SET,
    "Deployment": WorkloadKind.DEPLOYMENT,
}
"""Controller kinds (group apps) that are themselves remediable targets."""


def controller_reference(document: Json) -> Json | None:
    """The ownerReference with ``controller: true`` of an object as JSON, if any."""
    for reference in (document.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return dict(reference)
    return None


def controller_of(metadata: Any) -> tuple[str, str, str] | None:
    """(apiVersion, kind, name) of the managing controller of an object read with the typed
    client (its ``metadata``), if any."""
    document = {"metadata": _SERIALIZER.sanitize_for_serialization(metadata)}  # type: ignore[no-untyped-call]
    reference = controller_reference(document)
    if reference is None:
        return None
    return (str(reference["apiVersion"]), str(reference["kind"]), str(reference["name"]))


class OwnerResolver:
    """Resolves pods to the workload that owns them, remembering answers for ``ttl``.

    Misses (no such pod, no remediable owner) are remembered for ``miss_ttl`` (a pod may be
    too new to be visible yet), apiserver failures for ``error_ttl`` so an outage does not
    make every lookup wait on timeouts. Safe to share between threads.
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        ttl: timedelta = timedelta(seconds=60),
        *,
        miss_ttl: timedelta = timedelta(seconds=10),
        error_ttl: timedelta = timedelta(seconds=5),
        request_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._ttl = ttl.total_seconds()
        self._miss_ttl = min(miss_ttl, ttl).total_seconds()
        self._error_ttl = min(error_ttl, ttl).total_seconds()
        self._timeout = (min(request_timeout, 3.0), request_timeout)
        self._clock = clock
        self._cache: dict[tuple[str, str, str], tuple[float, WorkloadRef | None]] = {}
        self._lock = threading.Lock()

    def resolve(self, namespace: str, pod_name: str) -> WorkloadRef | None:
        """The Deployment, StatefulSet or DaemonSet running the pod, or None."""
        key = ("Pod", namespace, pod_name)
        hit, cached = self._cached(key)
        if hit:
            return cached
        try:
            found = self._lookup(namespace, pod_name)
        except Exception as error:
            self._remember(key, None, self._error_ttl)
            log.warning(
                "pod owner lookup failed",
                namespace=namespace,
                pod=pod_name,
                error=describe_failure(error),
                transient=is_transient(error),
            )
            return None
        self._remember(key, found, self._ttl if found is not None else self._miss_ttl)
        return found

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._cache.clear()

    # --- lookups ------------------------------------------------------------------------------

    def _lookup(self, namespace: str, pod_name: str) -> WorkloadRef | None:
        pod = self._read(self._core.read_namespaced_pod, pod_name, namespace)
        if pod is None:
            return None
        owner = controller_of(pod.metadata)
        if owner is None:
            return None
        api_version, kind, name = owner
        if not api_version.startswith("apps/"):
            return None  # a Job, or a controller from some other API group
        if kind in DIRECT_KINDS:
            return WorkloadRef(kind=DIRECT_KINDS[kind], namespace=namespace, name=name)
        if kind == "ReplicaSet":
            return self._replica_set_owner(namespace, name)
        return None

    def _replica_set_owner(self, namespace: str, name: str) -> WorkloadRef | None:
        key = ("ReplicaSet", namespace, name)
        hit, cached = self._cached(key)
        if hit:
            return cached
        replica_set = self._read(self._apps.read_namespaced_replica_set, name, namespace)
        found: WorkloadRef | None = None
        if replica_set is not None:
            owner = controller_of(replica_set.metadata)
            if owner is not None and owner[0].startswith("apps/") and owner[1] == "Deployment":
                found = WorkloadRef(
                    kind=WorkloadKind.DEPLOYMENT, namespace=namespace, name=owner[2]
                )
        self._remember(key, found, self._ttl if found is not None else self._miss_ttl)
        return found

    def _read(self, read: Callable[..., Any], name: str, namespace: str) -> Any:
        """The object, or None when it does not exist; other failures raise."""
        try:
            return read(name, namespace, _request_timeout=self._timeout)
        except ApiException as error:
            if status_of(error) == 404:
                return None
            raise

    # --- cache --------------------------------------------------------------------------------

    def _cached(self, key: tuple[str, str, str]) -> tuple[bool, WorkloadRef | None]:
        """(True, answer) for a live cache entry, else (False, None)."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return False, None
            expires, value = entry
            if expires <= now:
                del self._cache[key]
                return False, None
            return True, value

    def _remember(self, key: tuple[str, str, str], value: WorkloadRef | None, ttl: float) -> None:
        if ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + ttl, value)
