"""Names, labels, owner references and content hashes of the objects a LogPipeline owns."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from logsentinel.domain.common import MANAGED_BY_LABEL, PRODUCT
from logsentinel.domain.resources import LogPipeline

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
PIPELINE_LABEL = "logsentinel.io/pipeline"
PIPELINE_NAMESPACE = "logsentinel.io/pipeline-namespace"
CONFIG_HASH = "logsentinel.io/config-hash"


class Component(StrEnum):
    COLLECTOR = "collector"
    PROCESSOR = "processor"


@dataclass(frozen=True)
class Owner:
    """The LogPipeline that owns the rendered objects, and where they live."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str | None

    @classmethod
    def of(cls, pipeline: LogPipeline, namespace: str) -> Owner:
        metadata = pipeline.metadata
        return cls(pipeline.api_version, pipeline.kind, metadata.name, namespace, metadata.uid)

    def object_name(self, suffix: str) -> str:
        """A namespaced object's name: ``<pipeline>-<suffix>``."""
        return f"{self.name}-{suffix}"

    def cluster_name(self, role: str) -> str:
        """A cluster-scoped object's name: ``logsentinel-<namespace>-<pipeline>-<role>``."""
        return f"{PRODUCT}-{self.namespace}-{self.name}-{role}"

    def selector(self, component: Component) -> dict[str, str]:
        """The pod labels a workload selects on (immutable once created: keep them few)."""
        return {PIPELINE_LABEL: self.name, COMPONENT: component.value}

    def labels(self, component: Component) -> dict[str, str]:
        # pipeline-namespace lets cluster-scoped objects, which cannot carry an owner
        # reference to a namespaced owner, be found (and deleted) by label.
        return {
            MANAGED_BY_LABEL: PRODUCT,
            PART_OF: PRODUCT,
            PIPELINE_LABEL: self.name,
            PIPELINE_NAMESPACE: self.namespace,
            COMPONENT: component.value,
        }

    def owner_references(self) -> list[dict[str, Any]]:
        if self.uid is None:
            return []
        return [
            {
                "apiVersion": self.api_version,
                "kind": self.kind,
                "name": self.name,
                "uid": self.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]

    def metadata(self, name: str, component: Component) -> dict[str, Any]:
        """Metadata of a namespaced object, owned by the pipeline when its uid is known."""
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(component),
        }
        references = self.owner_references()
        if references:
            metadata["ownerReferences"] = references
        return metadata

    def cluster_metadata(self, name: str, component: Component) -> dict[str, Any]:
        """Metadata of a cluster-scoped object (no owner reference: its owner is namespaced)."""
        return {"name": name, "labels": self.labels(component)}


def content_hash(data: dict[str, str]) -> str:
    """First 16 hex digits of the sha256 of a ConfigMap's data, independent of key order."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def config_map(metadata: dict[str, Any], data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def service_account(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def cluster_role(metadata: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata,
        "rules": rules,
    }


def cluster_role_binding(
    metadata: dict[str, Any], role: str, account: str, namespace: str
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }


def rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    """One RBAC policy rule."""
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def resources_of(requirements: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Container resources without empty requests/limits (no noise in server-side apply)."""
    return {kind: values for kind, values in requirements.items() if values}
