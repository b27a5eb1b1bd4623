"""Watching DetectionRules: list, then watch, and hand a full validated snapshot to a callback.

A daemon thread lists the DetectionRule objects (cluster-wide or in one namespace), then
watches from the list's resourceVersion, so a change reaches the callback as soon as the
apiserver sends the event. An expired resourceVersion (410 Gone) triggers a fresh list; any
other failure (apiserver down, CRD not installed yet, a broken stream) is logged and retried
with capped exponential backoff. The thread never dies of an error, and an exception raised by
the callback is logged and swallowed.

Every object is validated with the domain model; one that fails lands in
``RuleSnapshot.invalid`` with its problems and never stops the others from working.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from logsentinel.backoff import Backoff
from logsentinel.domain.common import GROUP_VERSION, ObjectMeta
from logsentinel.domain.errors import FieldProblem, InvalidResourceError
from logsentinel.domain.resources import DetectionRule
from logsentinel.kube.errors import describe_failure, status_of

log = structlog.get_logger("logsentinel.kube")

GROUP, VERSION = GROUP_VERSION.split("/")
PLURAL = DetectionRule.INFO.plural
KIND = DetectionRule.INFO.kind

FIRST_RETRY_S = 0.5
RETRY_JITTER = 0.25
"""Watch retries are spread by a quarter either way: processors restarted together do not
list the rules together."""
KEPT_METADATA = frozenset(info.alias or name for name, info in ObjectMeta.model_fields.items())
"""The metadata the domain model reads (name, namespace, labels, annotations, generation, uid,
creationTimestamp); server bookkeeping such as managedFields and resourceVersion is dropped."""

Problems = list[FieldProblem] | str
"""Why an object is invalid: the field problems, or one message when it could not be read."""


@dataclass(frozen=True)
class RuleSnapshot:
    """Every DetectionRule currently in scope, keyed by ``namespace/name``.

    Delivered whole on every change (an object's spec, metadata or status), so the receiver
    never applies deltas; compare ``metadata.generation`` to tell spec edits from status
    updates. The models are shared with later snapshots: treat them as read-only.
    """

    valid: dict[str, DetectionRule] = field(default_factory=dict)
    invalid: dict[str, Problems] = field(default_factory=dict)


class _WatchExpiredError(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


@dataclass
class _Entry:
    content: dict[str, Any]
    result: DetectionRule | Problems


def object_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` of a raw object."""
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}"


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a manifest the domain model accepts: server metadata removed."""
    document = {
        key: value for key, value in obj.items() if key not in ("metadata", "apiVersion", "kind")
    }
    metadata = obj.get("metadata") or {}
    document["apiVersion"] = obj.get("apiVersion") or GROUP_VERSION
    document["kind"] = obj.get("kind") or KIND
    document["metadata"] = {key: value for key, value in metadata.items() if key in KEPT_METADATA}
    return document


def validate(document: dict[str, Any], key: str) -> DetectionRule | Problems:
    """The rule, or why it is invalid.

    The status is observation, not configuration: a status the model rejects is dropped (the
    rule then has ``status=None``) rather than making the rule invalid or cluttering its
    problems.
    """
    source = f"DetectionRule {key}"
    try:
        return DetectionRule.from_manifest(document, source)
    except InvalidResourceError as error:
        in_status = any(
            problem.path == "status" or problem.path.startswith("status.")
            for problem in error.problems
        )
        if in_status and "status" in document:  # judge the rule by what its author wrote
            without_status = {k: v for k, v in document.items() if k != "status"}
            return validate(without_status, key)
        return error.problems
    except Exception as error:  # the processor reports it and carries on
        return f"{type(error).__name__}: {error}"


def _lines(response: Any) -> Iterator[bytes]:
    """Complete lines of a streamed (chunked) HTTP response as they arrive."""
    buffer = bytearray()
    for chunk in response.stream(amt=None, decode_content=True):
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) != -1:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if line.strip():
                yield line
    if buffer.strip():
        yield bytes(buffer)


class RuleWatcher:
    """Keeps ``on_change`` supplied with the current set of DetectionRules.

    ``namespace=None`` watches every namespace. ``on_change`` runs on the watcher's thread:
    it should return quickly (hand the snapshot over, do not block on I/O).
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str | None,
        on_change: Callable[[RuleSnapshot], None],
        *,
        watch_timeout: int = 60,
        max_backoff: float = 30.0,
    ) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._namespace = namespace
        self._on_change = on_change
        self._watch_timeout = watch_timeout
        self._max_backoff = max_backoff
        self._entries: dict[str, _Entry] = {}
        self._latest: RuleSnapshot | None = None
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._lock = threading.Lock()

    # --- public -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the watcher thread (idempotent while it runs)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        scope = self._namespace or "all namespaces"
        self._thread = threading.Thread(
            target=self._run, name=f"rule-watcher[{scope}]", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching: closes the open watch connection and waits for the thread."""
        self._stopping.set()
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()  # unblocks the thread's read at once
            except Exception as error:
                log.debug("rule watch shutdown failed", error=describe_failure(error))
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until the first list was delivered to ``on_change``; False on timeout."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        """True once the first snapshot was delivered."""
        return self._synced.is_set()

    @property
    def snapshot(self) -> RuleSnapshot | None:
        """The most recent snapshot delivered, None before the first list."""
        return self._latest

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        resource_version: str | None = None
        first_pause = min(FIRST_RETRY_S, self._max_backoff)
        backoff = Backoff(first_pause, self._max_backoff, jitter=RETRY_JITTER)
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._relist()
                began = time.monotonic()
                resource_version = self._watch(resource_version)
                backoff.reset()
                if time.monotonic() - began < 1.0:  # a server ending watches at once: no spin
                    self._stopping.wait(0.5)
                continue  # the server ended the watch (timeout): resume from where it was
            except _WatchExpiredError:
                log.info("rule watch expired, listing again", scope=self._scope)
                resource_version = None
                continue
            except Exception as error:
                if self._stopping.is_set():
                    break
                if isinstance(error, ApiException) and status_of(error) == 410:
                    log.info("rule list expired, listing again", scope=self._scope)
                    resource_version = None
                    continue
                delay = backoff.next()
                log.warning(
                    "rule watch failed, retrying",
                    scope=self._scope,
                    error=describe_failure(error),
                    failures=backoff.failures,
                    retry_in=round(delay, 2),
                )
                self._stopping.wait(delay)
        log.debug("rule watcher stopped", scope=self._scope)

    @property
    def _scope(self) -> str:
        return self._namespace or "*"

    def _list_call(self, **kwargs: Any) -> Any:
        if self._namespace:
            return self._api.list_namespaced_custom_object(
                GROUP, VERSION, self._namespace, PLURAL, **kwargs
            )
        return self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)

    def _relist(self) -> str:
        """List everything, replace the state, deliver; the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        resource_version = ""
        while True:
            page = self._list_call(limit=500, _continue=token, _request_timeout=(10, 60))
            if not isinstance(page, dict):
                raise TypeError(f"unexpected list answer: {type(page).__name__}")
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            metadata = page.get("metadata") or {}
            resource_version = str(metadata.get("resourceVersion") or resource_version)
            token = metadata.get("continue") or None
            if not token:
                break
        fresh: dict[str, _Entry] = {}
        for item in items:
            if (item.get("metadata") or {}).get("deletionTimestamp"):
                continue
            key = object_key(item)
            fresh[key] = self._entry(key, item)
        changed = self._latest is None or _contents(fresh) != _contents(self._entries)
        self._entries = fresh
        log.info("rules listed", scope=self._scope, count=len(fresh), version=resource_version)
        if changed:
            self._deliver()
        self._synced.set()
        return resource_version

    def _entry(self, key: str, obj: dict[str, Any]) -> _Entry:
        document = strip(obj)
        previous = self._entries.get(key)
        if previous is not None and previous.content == document:
            return previous
        return _Entry(document, validate(document, key))

    def _watch(self, resource_version: str) -> str:
        """Stream events until the server ends the watch; the last resourceVersion seen."""
        response = self._list_call(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout,
            _preload_content=False,
            _request_timeout=(10, self._watch_timeout + 30),
        )
        with self._lock:
            self._response = response
        try:
            if self._stopping.is_set():
                return resource_version
            for line in _lines(response):
                resource_version = self._handle(line, resource_version)
                if self._stopping.is_set():
                    break
        finally:
            with self._lock:
                self._response = None
            response.close()
            response.release_conn()
        return resource_version

    def _handle(self, line: bytes, resource_version: str) -> str:
        event = json.loads(line)
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise _WatchExpiredError
            raise ApiException(
                status=code or 500, reason=f"{obj.get('reason')}: {obj.get('message')}"
            )
        new_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
        if kind == "BOOKMARK":
            return new_version
        key = object_key(obj)
        changed = False
        if kind == "DELETED" or (obj.get("metadata") or {}).get("deletionTimestamp"):
            changed = self._entries.pop(key, None) is not None
        elif kind in ("ADDED", "MODIFIED"):
            entry = self._entry(key, obj)
            previous = self._entries.get(key)
            self._entries[key] = entry
            changed = previous is None or previous.content != entry.content
        if changed:
            self._deliver()
        return new_version

    def _deliver(self) -> None:
        valid: dict[str, DetectionRule] = {}
        invalid: dict[str, Problems] = {}
        for key, entry in sorted(self._entries.items()):
            if isinstance(entry.result, DetectionRule):
                valid[key] = entry.result
            else:
                invalid[key] = entry.result
        snapshot = RuleSnapshot(valid, invalid)
        self._latest = snapshot
        try:
            self._on_change(snapshot)
        except Exception:
            log.exception("rule snapshot callback failed", scope=self._scope)


def _contents(entries: dict[str, _Entry]) -> dict[str, dict[str, Any]]:
    return {key: entry.content for key, entry in entries.items()}
