"""Any kind of object by apiVersion and kind (the dynamic client): server-side apply with this
product's field manager, list by label, get, delete, and Secrets. What the LogPipeline
reconciler makes the cluster match with; objects come back as JSON."""

from __future__ import annotations

from typing import Any

from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from logsentinel.domain.types import Json
from logsentinel.kube.errors import call
from logsentinel.kube.objects import FIELD_MANAGER
from logsentinel.kube.secrets import decode_secret_data


def where(obj: Json) -> str:
    """``ConfigMap shop/agent`` (``ClusterRole name`` for cluster-scoped objects)."""
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " ")


class ClusterObjects:
    def __init__(self, api_client: client.ApiClient) -> None:
        self._dynamic = dynamic.DynamicClient(api_client)  # type: ignore[no-untyped-call]
        self._core = client.CoreV1Api(api_client)

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, obj: Json) -> str:
        """Server-side apply (we own the fields we set, conflicts forced); what was applied."""
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        applied = where(obj)
        call(
            f"apply {applied}",
            lambda: resource.server_side_apply(
                body=obj,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            ),
        )
        return applied

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str
    ) -> list[Json]:
        """Objects of a kind with these labels (``namespace`` None: cluster-scoped or all)."""
        resource = self._resource(api_version, kind)
        listed = call(
            f"list {kind}",
            lambda: resource.get(namespace=namespace, label_selector=label_selector),
        )
        return [item.to_dict() for item in listed.items]

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Json:
        resource = self._resource(api_version, kind)
        found = call(
            f"get {kind} {namespace}/{name}", lambda: resource.get(name=name, namespace=namespace)
        )
        document: Json = found.to_dict()
        return document

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> None:
        """Delete the object; one that is already gone is fine."""
        resource = self._resource(api_version, kind)
        try:
            resource.delete(name=name, namespace=namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's data decoded, or None when it does not exist; SecretDataError when a
        value is not UTF-8 text."""
        try:
            secret = self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return decode_secret_data(namespace, name, secret.data or {})
