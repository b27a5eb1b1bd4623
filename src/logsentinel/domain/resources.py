"""The four custom resources: envelopes (apiVersion, kind, metadata, spec, status) and their
Kubernetes names, short names and printer columns, the single source for the generated CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import ValidationError, model_validator

from logsentinel.domain.base import SchemaModel, field_error
from logsentinel.domain.common import GROUP_VERSION, READY, ObjectMeta
from logsentinel.domain.errors import FieldProblem, InvalidResourceError, describe
from logsentinel.domain.incident import IncidentSpec, IncidentStatus
from logsentinel.domain.pipeline import LogPipelineSpec, LogPipelineStatus
from logsentinel.domain.playbook import PlaybookSpec, PlaybookStatus
from logsentinel.domain.rule import DetectionRuleSpec, DetectionRuleStatus

SpecT = TypeVar("SpecT", bound=SchemaModel)
StatusT = TypeVar("StatusT", bound=SchemaModel)

READY_STATUS = f'.status.conditions[?(@.type=="{READY}")].status'


@dataclass(frozen=True)
class PrinterColumn:
    """A column of kubectl get."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class KindInfo:
    """How Kubernetes names a resource and what kubectl get shows of it."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[PrinterColumn, ...]

    @property
    def singular(self) -> str:
        return self.kind.lower()


class CustomResource(SchemaModel, Generic[SpecT, StatusT]):
    """A whole object as stored by the apiserver."""

    INFO: ClassVar[KindInfo]

    api_version: str = GROUP_VERSION
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT | None = None

    @model_validator(mode="after")
    def _right_kind(self) -> Self:
        if self.api_version != GROUP_VERSION:
            raise field_error("apiVersion", f"must be {GROUP_VERSION!r}")
        if self.kind != self.INFO.kind:
            raise field_error("kind", f"must be {self.INFO.kind!r}")
        return self

    @classmethod
    def from_manifest(cls, document: dict[str, Any], source: str = "manifest") -> Self:
        """Validate a manifest; errors name every bad field path."""
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            raise InvalidResourceError(source, describe(error)) from None


class DetectionRule(CustomResource[DetectionRuleSpec, DetectionRuleStatus]):
    """Turns matching logs into incidents."""

    INFO = KindInfo(
        kind="DetectionRule",
        plural="detectionrules",
        short_names=("dr",),
        columns=(
            PrinterColumn("Detector", ".spec.detector.type"),
            PrinterColumn("Severity", ".spec.severity"),
            PrinterColumn("Ready", READY_STATUS),
            PrinterColumn("Fired", ".status.firedCount", "integer"),
        ),
    )
    kind: str = INFO.kind


class Playbook(CustomResource[PlaybookSpec, PlaybookStatus]):
    """Remediates incidents that match its triggers."""

    INFO = KindInfo(
        kind="Playbook",
        plural="playbooks",
        short_names=("pb",),
        columns=(
            PrinterColumn("Mode", ".spec.mode"),
            PrinterColumn("Ready", READY_STATUS),
        ),
    )
    kind: str = INFO.kind


class Incident(CustomResource[IncidentSpec, IncidentStatus]):
    """A rule that fired, with evidence and the actions taken."""

    INFO = KindInfo(
        kind="Incident",
        plural="incidents",
        short_names=("inc",),
        columns=(
            PrinterColumn("Severity", ".spec.severity"),
            PrinterColumn("Rule", ".spec.rule"),
            PrinterColumn("Target", ".spec.target.name", description="The workload affected."),
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Count", ".spec.occurrences", "integer"),
        ),
    )
    kind: str = INFO.kind


class LogPipeline(CustomResource[LogPipelineSpec, LogPipelineStatus]):
    """Deploys log collection (Fluent Bit) and processing."""

    INFO = KindInfo(
        kind="LogPipeline",
        plural="logpipelines",
        short_names=("lp",),
        columns=(
            PrinterColumn("Ready", READY_STATUS),
            PrinterColumn("Collectors", ".status.collectors.ready", "integer"),
            PrinterColumn("Processors", ".status.processors.ready", "integer"),
            PrinterColumn(
                "Dropped",
                ".status.droppedRecords",
                "integer",
                description="Lines the agents dropped (buffer full or memory limit).",
            ),
        ),
    )
    kind: str = INFO.kind


RESOURCES: tuple[type[CustomResource[Any, Any]], ...] = (
    DetectionRule,
    Playbook,
    Incident,
    LogPipeline,
)
BY_KIND: dict[str, type[CustomResource[Any, Any]]] = {model.INFO.kind: model for model in RESOURCES}


def parse_manifest(document: object, source: str = "manifest") -> CustomResource[Any, Any]:
    """Validate any Log Sentinel manifest, choosing the model by kind."""
    if not isinstance(document, dict):
        raise InvalidResourceError(
            source, [FieldProblem("", "expected a mapping (a Kubernetes object)")]
        )
    kind = document.get("kind")
    model = BY_KIND.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(BY_KIND)
        raise InvalidResourceError(
            source, [FieldProblem("kind", f"must be one of {known}, got {kind!r}")]
        )
    return model.from_manifest(document, source)
