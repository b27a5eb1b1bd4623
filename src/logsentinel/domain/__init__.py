"""Pure pydantic v2 models: the one definition of every Log Sentinel schema. No I/O here."""

from logsentinel.domain.common import API_GROUP, API_VERSION, GROUP_VERSION
from logsentinel.domain.errors import FieldProblem, InvalidResourceError
from logsentinel.domain.incident import IncidentPhase, IncidentSpec, IncidentStatus
from logsentinel.domain.logrecord import Level, LogRecord, SourcePosition
from logsentinel.domain.pipeline import LogPipelineSpec, LogPipelineStatus
from logsentinel.domain.playbook import PlaybookMode, PlaybookSpec, PlaybookStatus
from logsentinel.domain.resources import (
    BY_KIND,
    RESOURCES,
    CustomResource,
    DetectionRule,
    Incident,
    LogPipeline,
    Playbook,
    parse_manifest,
)
from logsentinel.domain.rule import DetectionRuleSpec, DetectionRuleStatus, DetectorType

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "BY_KIND",
    "GROUP_VERSION",
    "RESOURCES",
    "CustomResource",
    "DetectionRule",
    "DetectionRuleSpec",
    "DetectionRuleStatus",
    "DetectorType",
    "FieldProblem",
    "Incident",
    "IncidentPhase",
    "IncidentSpec",
    "IncidentStatus",
    "InvalidResourceError",
    "Level",
    "LogPipeline",
    "LogPipelineSpec",
    "LogPipelineStatus",
    "LogRecord",
    "Playbook",
    "PlaybookMode",
    "PlaybookSpec",
    "PlaybookStatus",
    "SourcePosition",
    "parse_manifest",
]
