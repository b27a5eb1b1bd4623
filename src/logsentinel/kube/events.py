"""Kubernetes Events for what Log Sentinel does: ``kubectl describe`` and ``kubectl get events``
show every remediation next to the object it concerns.

Recording an event is best effort: a failure is logged and never raised, because an audit trail
that breaks the action it describes would be worse than a missing line.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from kubernetes import client

from logsentinel.domain.common import WorkloadRef
from logsentinel.kube.errors import call, describe_failure

log = structlog.get_logger("logsentinel.kube")

COMPONENT = "logsentinel-operator"
MESSAGE_LIMIT = 1024
"""Bytes the apiserver accepts in the message of an Event that has an eventTime."""

NAME_LIMIT = 253
FIELD_LIMIT = 128
"""The apiserver's limit on reason, action and reportingInstance."""

WORKLOAD_API_VERSION = "apps/v1"

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class InvolvedObject:
    """The object an Event is about."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None


def involved_object(involved: object) -> InvolvedObject:
    """An InvolvedObject from a reference dict, a whole object dict, a WorkloadRef or any object
    with ``api_version``/``kind``/``namespace``/``name``/``uid`` attributes."""
    if isinstance(involved, InvolvedObject):
        return involved
    if isinstance(involved, WorkloadRef):
        return InvolvedObject(
            WORKLOAD_API_VERSION, involved.kind.value, involved.name, involved.namespace
        )
    if isinstance(involved, Mapping):
        return _from_mapping(involved)
    return _from_mapping(
        {
            "apiVersion": getattr(involved, "api_version", None),
            "kind": getattr(involved, "kind", None),
            "namespace": getattr(involved, "namespace", None),
            "name": getattr(involved, "name", None),
            "uid": getattr(involved, "uid", None),
        }
    )


def _from_mapping(involved: Mapping[str, Any]) -> InvolvedObject:
    # A whole object ({"apiVersion", "kind", "metadata": {...}}) or a flat reference.
    metadata = involved.get("metadata")
    source: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else involved
    api_version = involved.get("apiVersion") or involved.get("api_version")
    kind, name = involved.get("kind"), source.get("name")
    if not api_version or not kind or not name:
        raise ValueError(f"an involved object needs apiVersion, kind and name: {dict(involved)!r}")
    return InvolvedObject(
        str(api_version),
        str(kind),
        str(name),
        str(source["namespace"]) if source.get("namespace") else None,
        str(source["uid"]) if source.get("uid") else None,
    )


def trim(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes of text, marked with an ellipsis when cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore") + "..."


def micro_time(moment: datetime) -> datetime:
    """A time the apiserver reads as a MicroTime.

    The client writes datetimes with ``isoformat()``, which drops the fraction when it is zero,
    and the apiserver's MicroTime parser insists on six fractional digits.
    """
    moment = moment.astimezone(UTC)
    return moment if moment.microsecond else moment.replace(microsecond=1)


class EventRecorder:
    """Creates core/v1 Events reported by the Log Sentinel operator."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        component: str = COMPONENT,
        instance: str | None = None,
        request_timeout: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = client.CoreV1Api(api_client)
        self._component = component
        self._instance = trim(
            instance or os.environ.get("POD_NAME") or socket.gethostname(), FIELD_LIMIT
        )
        self._timeout = (min(request_timeout, 3.0), request_timeout)
        self._clock = clock

    def record(
        self,
        involved: object,
        reason: str,
        message: str,
        type: EventType = "Normal",
        *,
        action: str | None = None,
    ) -> str | None:
        """Create an Event about ``involved``; its name, or None when it could not be recorded.

        ``reason`` is CamelCase (``RolloutRestarted``); ``action`` defaults to it.
        """
        try:
            target = involved_object(involved)
            namespace = target.namespace or "default"  # cluster-scoped objects' events go there
            suffix = secrets.token_hex(8)
            name = f"{target.name[: NAME_LIMIT - len(suffix) - 1]}.{suffix}"
            event = self._event(name, namespace, target, reason, message, type, action or reason)
            call(
                f"create Event {namespace}/{name}",
                lambda: self._api.create_namespaced_event(
                    namespace, event, _request_timeout=self._timeout
                ),
            )
        except Exception as error:
            log.warning(
                "event not recorded",
                involved=repr(involved),
                reason=reason,
                error=describe_failure(error),
            )
            return None
        return name

    def _event(
        self,
        name: str,
        namespace: str,
        target: InvolvedObject,
        reason: str,
        message: str,
        type: str,
        action: str,
    ) -> client.CoreV1Event:
        if type not in ("Normal", "Warning"):
            raise ValueError(f"event type must be Normal or Warning, not {type!r}")
        now = micro_time(self._clock())
        return client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace),
            involved_object=client.V1ObjectReference(
                api_version=target.api_version,
                kind=target.kind,
                namespace=target.namespace,
                name=target.name,
                uid=target.uid,
            ),
            reason=trim(reason, FIELD_LIMIT),
            message=trim(message, MESSAGE_LIMIT),
            type=type,
            action=trim(action, FIELD_LIMIT),
            source=client.V1EventSource(component=self._component),
            reporting_component=self._component,
            reporting_instance=self._instance,
            first_timestamp=now,
            last_timestamp=now,
            event_time=now,
            count=1,
        )
