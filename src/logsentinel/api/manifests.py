"""Where the API keeps DetectionRules and Playbooks: custom resources in Kubernetes mode, YAML
files in a directory otherwise (the directory the processors' LOGSENTINEL_RULES_DIRECTORY
reads). Both stores take and give validated domain resources."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import yaml

from logsentinel.domain.resources import CustomResource
from logsentinel.kube.errors import KubeNotFoundError
from logsentinel.kube.objects import ObjectStore

ResourceT = TypeVar("ResourceT", bound=CustomResource[Any, Any])
MAX_FILE_NAME = 255
"""Bytes in a file name, on every common filesystem."""


class NotFoundError(Exception):
    pass


class ManifestStore(Protocol[ResourceT]):
    def list(self, namespace: str | None) -> list[ResourceT]: ...

    def get(self, namespace: str, name: str) -> ResourceT: ...

    def put(self, resource: ResourceT) -> bool:
        """Create or replace; True when it was created."""
        ...

    def delete(self, namespace: str, name: str) -> None: ...


def as_manifest(resource: CustomResource[Any, Any]) -> dict[str, Any]:
    metadata = resource.metadata
    document: dict[str, Any] = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": {"name": metadata.name, "namespace": metadata.namespace},
        "spec": resource.spec.to_wire(),
    }
    if metadata.labels:
        document["metadata"]["labels"] = dict(metadata.labels)
    return document


def _parse(model: type[ResourceT], document: dict[str, Any]) -> ResourceT:
    status = document.get("status")
    kept: dict[str, Any] = {k: document[k] for k in ("apiVersion", "kind", "spec") if k in document}
    metadata = document.get("metadata") or {}
    kept["metadata"] = {k: metadata[k] for k in ("name", "namespace", "labels") if k in metadata}
    try:
        return model.from_manifest({**kept, "status": status} if status else kept)
    except Exception:
        return model.from_manifest(kept)  # a status the model rejects is not the author's


class DirectoryStore(Generic[ResourceT]):
    """One file per object: <directory>/<kind>-<namespace>_<name>.yaml, written atomically
    (no namespace or name holds "_", so a-b/c and a/b-c get different files).

    A name too long for a file name (a namespace and a name together may have 317 characters)
    is cut, and a hash of the whole keeps it unique; readers go by the content, not the name.
    """

    def __init__(self, directory: Path, model: type[ResourceT]) -> None:
        self.directory = directory
        self.model = model

    def _path(self, namespace: str, name: str) -> Path:
        stem = f"{self.model.INFO.singular}-{namespace}_{name}"
        room = MAX_FILE_NAME - len(".yaml")
        if len(stem.encode()) > room:
            digest = hashlib.sha256(stem.encode()).hexdigest()[:16]
            stem = f"{stem.encode()[: room - len(digest) - 1].decode(errors='ignore')}-{digest}"
        return self.directory / f"{stem}.yaml"

    def list(self, namespace: str | None) -> list[ResourceT]:
        found = []
        for path in sorted(self.directory.glob(f"{self.model.INFO.singular}-*.yaml")):
            resource = _parse(self.model, yaml.safe_load(path.read_text()))
            if namespace is None or resource.metadata.namespace == namespace:
                found.append(resource)
        return found

    def get(self, namespace: str, name: str) -> ResourceT:
        path = self._path(namespace, name)
        if not path.is_file():
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}")
        return _parse(self.model, yaml.safe_load(path.read_text()))

    def put(self, resource: ResourceT) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(resource.metadata.namespace or "default", resource.metadata.name)
        created = not path.exists()
        temporary = path.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(as_manifest(resource), sort_keys=False))
        os.replace(temporary, path)  # readers never see half a file
        return created

    def delete(self, namespace: str, name: str) -> None:
        path = self._path(namespace, name)
        if not path.is_file():
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}")
        path.unlink()


class KubernetesStore(Generic[ResourceT]):
    """The custom resources themselves."""

    def __init__(self, objects: ObjectStore, model: type[ResourceT]) -> None:
        self.objects = objects
        self.model = model

    def list(self, namespace: str | None) -> list[ResourceT]:
        return [_parse(self.model, item) for item in self.objects.list(namespace)]

    def get(self, namespace: str, name: str) -> ResourceT:
        try:
            return _parse(self.model, self.objects.get(namespace, name))
        except KubeNotFoundError:
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}") from None

    def put(self, resource: ResourceT) -> bool:
        namespace = resource.metadata.namespace or "default"
        try:
            self.objects.get(namespace, resource.metadata.name)
        except KubeNotFoundError:
            self.objects.create(namespace, as_manifest(resource))
            return True
        self.objects.replace_spec(namespace, resource.metadata.name, resource.spec.to_wire())
        return False

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete(namespace, name)
        except KubeNotFoundError:
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}") from None
