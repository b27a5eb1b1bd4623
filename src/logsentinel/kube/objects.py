"""Reading and patching Log Sentinel's own custom resources (Incidents, Playbooks, rules) for
the operator: fresh reads, annotation patches, status patches, optimistic concurrency."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from kubernetes import client

from logsentinel.domain.common import GROUP_VERSION
from logsentinel.domain.types import Json
from logsentinel.kube.errors import KubeConflictError, call

GROUP, VERSION = GROUP_VERSION.split("/")
FIELD_MANAGER = "logsentinel-operator"
CONFLICT_ATTEMPTS = 8


class ObjectStore:
    """CRUD on one kind of namespaced custom resource (by its plural)."""

    def __init__(self, api_client: client.ApiClient, plural: str, kind: str) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self.plural = plural
        self.kind = kind

    def get(self, namespace: str, name: str) -> Json:
        found = call(
            f"get {self.kind} {namespace}/{name}",
            lambda: self._api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, name, _request_timeout=10
            ),
        )
        return cast(Json, found)

    def list(self, namespace: str | None = None) -> list[Json]:
        if namespace:
            answer = call(
                f"list {self.plural} in {namespace}",
                lambda: self._api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, self.plural, _request_timeout=10
                ),
            )
        else:
            answer = call(
                f"list {self.plural}",
                lambda: self._api.list_cluster_custom_object(
                    GROUP, VERSION, self.plural, _request_timeout=10
                ),
            )
        return [dict(item) for item in cast(Json, answer).get("items", [])]

    def create(self, namespace: str, body: Json) -> Json:
        answer = call(
            f"create {self.kind} {namespace}/{body['metadata']['name']}",
            lambda: self._api.create_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                self.plural,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=10,
            ),
        )
        return cast(Json, answer)

    def replace_spec(self, namespace: str, name: str, spec: Json) -> Json:
        """Set the spec as a whole: a JSON patch (a merge patch would merge nested maps; the
        client sends a list body as application/json-patch+json)."""
        body = [{"op": "replace", "path": "/spec", "value": spec}]
        answer = call(
            f"replace {self.kind} {namespace}/{name}",
            lambda: self._api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                self.plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=10,
                _content_type="application/json-patch+json",
            ),
        )
        return cast(Json, answer)

    def delete(self, namespace: str, name: str) -> None:
        call(
            f"delete {self.kind} {namespace}/{name}",
            lambda: self._api.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, name, _request_timeout=10
            ),
        )

    def patch(self, namespace: str, name: str, body: Json) -> Json:
        """A merge patch of the object (metadata and spec; status is ignored by the server)."""
        answer = call(
            f"patch {self.kind} {namespace}/{name}",
            lambda: self._api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                self.plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=10,
            ),
        )
        return cast(Json, answer)

    def patch_status(self, namespace: str, name: str, status: Json) -> Json:
        """A merge patch of the status subresource."""
        return self._patch_status_body(namespace, name, {"status": status})

    def _patch_status_body(self, namespace: str, name: str, body: Json) -> Json:
        answer = call(
            f"patch status of {self.kind} {namespace}/{name}",
            lambda: self._api.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                self.plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=10,
            ),
        )
        return cast(Json, answer)

    def update_status(self, namespace: str, name: str, change: Callable[[Json], Json]) -> Json:
        """Read, change and write the status guarded by resourceVersion, retrying lost races."""
        for _ in range(CONFLICT_ATTEMPTS):
            current = self.get(namespace, name)
            status = change(dict(current.get("status") or {}))
            body = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "status": status,
            }
            try:
                return self._patch_status_body(namespace, name, body)
            except KubeConflictError:
                continue
        raise KubeConflictError(
            f"update status of {self.kind} {namespace}/{name}",
            409,
            "Conflict",
            f"the status kept changing ({CONFLICT_ATTEMPTS} attempts)",
        )
