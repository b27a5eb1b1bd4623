"""Building blocks shared by several resources: metadata, conditions, selectors, references."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints

from logsentinel.domain.base import SchemaModel
from logsentinel.domain.types import (
    Identifier,
    LabelMap,
    NamespaceName,
    ObjectName,
    ServiceName,
    ShortText,
)

API_GROUP = "logsentinel.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

DEFAULT_CENTRAL_NAMESPACE = "logsentinel-system"
PRODUCT = "logsentinel"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
"""Set to PRODUCT on every object Log Sentinel creates (Kubernetes' recommended label)."""
"""The namespace whose Playbooks handle incidents of every namespace and whose DetectionRules may
watch other namespaces (LOGSENTINEL_CENTRAL_NAMESPACE of the operator and the processors)."""


class Severity(StrEnum):
    """How bad an incident is, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


CamelCaseReason = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    ),
]


MAX_CONDITION_MESSAGE = 32768
READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
"""The condition types the operator writes."""


class Condition(SchemaModel):
    """A status condition following Kubernetes API conventions."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=316)]
    status: ConditionStatus
    reason: CamelCaseReason
    message: Annotated[str, StringConstraints(max_length=MAX_CONDITION_MESSAGE)] = ""
    last_transition_time: AwareDatetime
    observed_generation: Annotated[int, Field(ge=0)] | None = None


def wire_condition(
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    *,
    generation: int | None,
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The condition ``type_`` as it goes into an object's status: True when ``ok``; its
    lastTransitionTime is kept from the ``previous`` conditions while the status stays the
    same and is ``now`` when it flips; the message cut to the API's limit."""
    status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    transition = now
    for old in previous:
        kept = old.get("lastTransitionTime")
        if old.get("type") == type_ and old.get("status") == status.value and isinstance(kept, str):
            transition = datetime.fromisoformat(kept.replace("Z", "+00:00"))
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:MAX_CONDITION_MESSAGE],
        last_transition_time=transition,
        observed_generation=generation,
    ).to_wire()


class ObjectMeta(SchemaModel):
    """The part of Kubernetes object metadata the domain reads; the rest is kept as-is."""

    model_config = SchemaModel.model_config | {"extra": "allow"}

    name: ObjectName
    namespace: NamespaceName | None = None
    labels: LabelMap = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    creation_timestamp: datetime | None = None


class Selector(SchemaModel):
    """Which logs or workloads something applies to; empty lists mean any, all parts must match."""

    namespaces: list[NamespaceName] = Field(default_factory=list, max_length=100)
    services: list[ServiceName] = Field(default_factory=list, max_length=100)
    labels: LabelMap = Field(
        default_factory=dict, description="Pod labels that must all be present with these values."
    )

    def matches(
        self, namespace: str | None, service: str | None, labels: dict[str, str] | None = None
    ) -> bool:
        """True when a record or workload with these coordinates is selected."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        if self.services and service not in self.services:
            return False
        present = labels or {}
        return all(present.get(key) == value for key, value in self.labels.items())


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"
    COMPOSE_SERVICE = "ComposeService"
    """Compose mode: the namespace is the Compose project, the name the service."""


class WorkloadRef(SchemaModel):
    """A workload that can be remediated."""

    kind: WorkloadKind
    namespace: NamespaceName
    name: ObjectName

    def __str__(self) -> str:
        return f"{self.kind.value}/{self.namespace}/{self.name}"


class SecretKeyRef(SchemaModel):
    """A key in a Secret in the resource's own namespace."""

    name: ObjectName
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]


class SecretRef(SchemaModel):
    """A whole Secret in the resource's own namespace."""

    name: ObjectName


__all__ = [
    "API_GROUP",
    "API_VERSION",
    "DEFAULT_CENTRAL_NAMESPACE",
    "GROUP_VERSION",
    "MANAGED_BY_LABEL",
    "PRODUCT",
    "Condition",
    "ConditionStatus",
    "Identifier",
    "ObjectMeta",
    "SecretKeyRef",
    "SecretRef",
    "Selector",
    "Severity",
    "ShortText",
    "WorkloadKind",
    "WorkloadRef",
]
