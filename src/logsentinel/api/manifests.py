"""Where the API keeps DetectionRules and Playbooks: custom resources in Kubernetes mode, YAML
files in a directory otherwise (the directory the processors' LOGSENTINEL_RULES_DIRECTORY
reads). Both stores take and give validated domain resources; an object that does not parse
(a file edited by hand, an object the CRD schema let through) is left out of lists, with a
warning naming it and the error, and answered as InvalidStoredError when asked for by name."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import structlog
import yaml

from logsentinel.domain.errors import InvalidResourceError
from logsentinel.domain.resources import CustomResource
from logsentinel.kube.errors import KubeNotFoundError
from logsentinel.kube.objects import ObjectStore

log = structlog.get_logger("logsentinel.api.manifests")
ResourceT = TypeVar("ResourceT", bound=CustomResource[Any, Any])
MAX_FILE_NAME = 255
"""Bytes in a file name, on every common filesystem."""
LOCK_FILE = ".logsentinel.lock"
LOCK_WAIT = 10.0
"""Seconds a writer waits for the directory's lock before giving up (BusyError)."""


class NotFoundError(Exception):
    pass


class BusyError(Exception):
    """Another writer held the directory's lock for longer than LOCK_WAIT."""


class InvalidStoredError(Exception):
    """A stored object that does not parse; the message names it and says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source} is invalid: {reason}")
        self.source = source
        self.reason = reason


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


def _parse(model: type[ResourceT], document: object, source: str) -> ResourceT:
    """The resource, or InvalidStoredError saying what is wrong with it."""
    if not isinstance(document, dict):
        raise InvalidStoredError(source, "expected a mapping (a Kubernetes object)")
    status = document.get("status")
    kept: dict[str, Any] = {k: document[k] for k in ("apiVersion", "kind", "spec") if k in document}
    metadata = document.get("metadata")
    if isinstance(metadata, dict):
        kept["metadata"] = {
            k: metadata[k] for k in ("name", "namespace", "labels") if k in metadata
        }
    try:
        try:
            return model.from_manifest({**kept, "status": status} if status else kept, source)
        except InvalidResourceError:
            return model.from_manifest(
                kept, source
            )  # a status the model rejects is not the author's
    except InvalidResourceError as error:
        raise InvalidStoredError(source, error.one_line()) from None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """The directory's write lock (flock: held by one writer at a time, in this process or any
    other on the same host, and released by the kernel if the holder dies)."""
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"another writer has held {directory} for {LOCK_WAIT:.0f} s; retry"
                    ) from None
                time.sleep(0.005)  # flock has no timeout: try again shortly
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_atomically(path: Path, text: str) -> None:
    """path holds text, or what it held before: never half of it, also after a crash."""
    # short and hidden: it fits whatever the name, and readers of "*.yaml" never see it
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from processors run as others
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


class DirectoryStore(Generic[ResourceT]):
    """One file per object: <directory>/<kind>-<namespace>_<name>.yaml (no namespace or name
    holds "_", so a-b/c and a/b-c get different files).

    Writers take the directory's lock (several API workers or replicas on one volume write one
    at a time, so a put's "created" is right) and write a temporary file, fsync it and rename
    it over the old one: readers, who take no lock, see the old file or the new one. A name too
    long for a file name (a namespace and a name together may have 317 characters) is cut, and
    a hash of the whole keeps it unique; readers go by the content, not the name.
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

    def _read(self, path: Path) -> ResourceT:
        """The file's resource; FileNotFoundError, or InvalidStoredError naming the file."""
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise InvalidStoredError(str(path), " ".join(str(error).split())) from None
        return _parse(self.model, document, str(path))

    def list(self, namespace: str | None) -> list[ResourceT]:
        found = []
        for path in sorted(self.directory.glob(f"{self.model.INFO.singular}-*.yaml")):
            try:
                resource = self._read(path)
            except FileNotFoundError:
                continue  # deleted since the directory was listed
            except InvalidStoredError as error:
                log.warning("skipped an invalid manifest file", file=str(path), error=error.reason)
                continue
            if namespace is None or resource.metadata.namespace == namespace:
                found.append(resource)
        return found

    def get(self, namespace: str, name: str) -> ResourceT:
        try:
            return self._read(self._path(namespace, name))
        except FileNotFoundError:
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}") from None

    def put(self, resource: ResourceT) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(resource.metadata.namespace or "default", resource.metadata.name)
        text = yaml.safe_dump(as_manifest(resource), sort_keys=False)
        with _locked(self.directory):
            created = not path.exists()
            _write_atomically(path, text)
        return created

    def delete(self, namespace: str, name: str) -> None:
        path = self._path(namespace, name)
        if not self.directory.is_dir():
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}")
        with _locked(self.directory):
            try:
                path.unlink()
            except FileNotFoundError:
                raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}") from None
            _fsync_directory(self.directory)


class KubernetesStore(Generic[ResourceT]):
    """The custom resources themselves."""

    def __init__(self, objects: ObjectStore, model: type[ResourceT]) -> None:
        self.objects = objects
        self.model = model

    def _source(self, item: Any) -> str:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        return f"{self.model.INFO.kind} {metadata.get('namespace')}/{metadata.get('name')}"

    def list(self, namespace: str | None) -> list[ResourceT]:
        found = []
        for item in self.objects.list(namespace):
            try:
                found.append(_parse(self.model, item, self._source(item)))
            except InvalidStoredError as error:
                log.warning("skipped an invalid object", object=error.source, error=error.reason)
        return found

    def get(self, namespace: str, name: str) -> ResourceT:
        try:
            item = self.objects.get(namespace, name)
        except KubeNotFoundError:
            raise NotFoundError(f"no {self.model.INFO.kind} {namespace}/{name}") from None
        return _parse(self.model, item, self._source(item))

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
