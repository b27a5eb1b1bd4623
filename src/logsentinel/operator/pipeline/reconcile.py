"""Making the cluster match a rendered LogPipeline: server-side apply of every object, pruning of
objects the pipeline no longer renders, removal of its cluster-scoped RBAC on delete, and the
observed status (collectors and processors ready, conditions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from logsentinel.domain.common import MANAGED_BY_LABEL, PRODUCT
from logsentinel.domain.types import Json
from logsentinel.kube.client import ApiClient
from logsentinel.kube.cluster import ClusterObjects
from logsentinel.operator.pipeline.objects import PIPELINE_LABEL

log = structlog.get_logger("logsentinel.operator")


# Every kind a pipeline may own: what pruning looks at.
OWNED_KINDS: tuple[tuple[str, str, bool], ...] = (
    ("v1", "ConfigMap", True),
    ("v1", "ServiceAccount", True),
    ("v1", "Service", True),
    ("apps/v1", "DaemonSet", True),
    ("apps/v1", "Deployment", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
)


def cluster_prefix(namespace: str, pipeline: str) -> str:
    """How the renderer names a pipeline's cluster-scoped objects."""
    return f"logsentinel-{namespace}-{pipeline}-"


@dataclass(frozen=True)
class Observed:
    collectors_desired: int
    collectors_ready: int
    processors_desired: int
    processors_ready: int
    collectors_updated: bool
    processors_updated: bool

    @property
    def ready(self) -> bool:
        return (
            self.collectors_updated
            and self.processors_updated
            and self.collectors_ready >= self.collectors_desired
            and self.processors_ready >= self.processors_desired
        )


class PipelineReconciler:
    def __init__(self, api_client: ApiClient) -> None:
        self.objects = ClusterObjects(api_client)

    def apply(self, objects: Sequence[Json]) -> list[str]:
        """Server-side apply each object (we own the fields we set); what was applied."""
        return [self.objects.apply(obj) for obj in objects]

    def prune(self, namespace: str, pipeline: str, keep: Sequence[Json]) -> list[str]:
        """Delete objects labelled as this pipeline's that the current render does not have."""
        wanted = {(o["kind"], o["metadata"]["name"]) for o in keep}
        removed = []
        for api_version, kind, namespaced in OWNED_KINDS:
            for item in self._owned(api_version, kind, namespaced, namespace, pipeline):
                if (kind, item["metadata"]["name"]) not in wanted:
                    self._delete(api_version, kind, item["metadata"])
                    removed.append(f"{kind} {item['metadata']['name']}")
        return removed

    def delete_cluster_scoped(self, namespace: str, pipeline: str) -> list[str]:
        """Cluster-scoped objects cannot have a namespaced owner: remove them ourselves."""
        return self.prune_kinds(namespace, pipeline, namespaced=False)

    def prune_kinds(self, namespace: str, pipeline: str, namespaced: bool) -> list[str]:
        removed = []
        for api_version, kind, is_namespaced in OWNED_KINDS:
            if is_namespaced != namespaced:
                continue
            for item in self._owned(api_version, kind, is_namespaced, namespace, pipeline):
                self._delete(api_version, kind, item["metadata"])
                removed.append(f"{kind} {item['metadata']['name']}")
        return removed

    def _owned(
        self, api_version: str, kind: str, namespaced: bool, namespace: str, pipeline: str
    ) -> list[Json]:
        selector = f"{PIPELINE_LABEL}={pipeline},{MANAGED_BY_LABEL}={PRODUCT}"
        items = self.objects.list(api_version, kind, namespace if namespaced else None, selector)
        if not namespaced:  # the same pipeline name may exist in another namespace
            prefix = cluster_prefix(namespace, pipeline)
            items = [i for i in items if i["metadata"]["name"].startswith(prefix)]
        return items

    def _delete(self, api_version: str, kind: str, meta: Json) -> None:
        self.objects.delete(api_version, kind, meta["name"], meta.get("namespace"))

    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's data decoded, or None when it does not exist; SecretDataError when a
        value is not UTF-8 text."""
        return self.objects.read_secret(namespace, name)

    def missing_secrets(self, namespace: str, names: Sequence[tuple[str, str]]) -> list[str]:
        """(field, secret name) pairs whose Secret does not exist: messages naming the field."""
        return [
            f"{field}: Secret {namespace}/{name} does not exist"
            for field, name in names
            if self.objects.read_secret(namespace, name) is None
        ]

    def pods(self, namespace: str, selector: dict[str, str]) -> list[Json]:
        """The pods in ``namespace`` that carry every label of ``selector``."""
        labels = ",".join(f"{key}={value}" for key, value in selector.items())
        return self.objects.list("v1", "Pod", namespace, labels)

    def observe(self, namespace: str, collector: str, processor: str) -> Observed:
        daemon_set = self.objects.get("apps/v1", "DaemonSet", namespace, collector)
        deployment = self.objects.get("apps/v1", "Deployment", namespace, processor)
        ds, dp = daemon_set.get("status") or {}, deployment.get("status") or {}
        desired_collectors = int(ds.get("desiredNumberScheduled") or 0)
        desired_processors = int(deployment["spec"].get("replicas") or 0)
        return Observed(
            collectors_desired=desired_collectors,
            collectors_ready=int(ds.get("numberReady") or 0),
            processors_desired=desired_processors,
            processors_ready=int(dp.get("readyReplicas") or 0),
            collectors_updated=int(ds.get("observedGeneration") or 0)
            >= int(daemon_set["metadata"]["generation"])
            and int(ds.get("updatedNumberScheduled") or 0) >= desired_collectors,
            processors_updated=int(dp.get("observedGeneration") or 0)
            >= int(deployment["metadata"]["generation"])
            and int(dp.get("updatedReplicas") or 0) >= desired_processors
            and int(dp.get("replicas") or 0) <= desired_processors,
        )
