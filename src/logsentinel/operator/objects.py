"""What the remediator needs to read and write incidents and playbooks, and to report events:
the Kubernetes objects and Events in the Kopf operator (kube.objects.ObjectStore,
kube.events.EventRecorder), PostgreSQL in Compose mode (operator/compose.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from logsentinel.domain.types import Json
from logsentinel.kube.events import EventType


class Readable(Protocol):
    def get(self, namespace: str, name: str) -> Json:
        """The object as a manifest; kube.errors.KubeNotFoundError when there is none."""
        ...


class Objects(Readable, Protocol):
    def patch(self, namespace: str, name: str, body: Json) -> Json:
        """Merge ``body`` (metadata.annotations are what the remediator writes) into it."""
        ...

    def patch_status(self, namespace: str, name: str, status: Json) -> Json: ...

    def update_status(self, namespace: str, name: str, change: Callable[[Json], Json]) -> Json:
        """Merge ``change(current status)`` into the status, without losing a concurrent
        change."""
        ...


class EventSink(Protocol):
    def record(
        self,
        involved: object,
        reason: str,
        message: str,
        type: EventType = "Normal",
        *,
        action: str | None = None,
    ) -> str | None: ...
