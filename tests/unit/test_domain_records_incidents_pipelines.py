"""LogRecord, Incident and LogPipeline: valid and invalid cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from logsentinel.domain import (
    Incident,
    IncidentPhase,
    IncidentStatus,
    InvalidResourceError,
    Level,
    LogPipeline,
    LogRecord,
    parse_manifest,
)
from logsentinel.domain.errors import describe

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

# --- LogRecord -------------------------------------------------------------------------------


def test_log_record_normalises_timestamp_to_utc() -> None:
    record = LogRecord(
        timestamp=datetime(2026, 11, 22, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        message="hello",
        service="api",
        namespace="shop",
    )
    assert record.timestamp == NOW
    assert record.timestamp.tzinfo is UTC
    assert record.level is Level.UNKNOWN
    assert record.partition_key == "shop/api"


def test_log_record_wire_form() -> None:
    record = LogRecord.model_validate(
        {
            "timestamp": "2026-11-22T12:00:00Z",
            "level": "error",
            "message": "GET /cart 502",
            "service": "storefront",
            "templateId": "t1",
            "traceId": "abc",
            "attributes": {"status": 502, "path": "/cart", "nested": {"a": [1, 2]}},
            "source": {"topic": "logs", "partition": 2, "offset": 41},
        }
    )
    wire = record.to_wire()
    assert wire["templateId"] == "t1"
    assert wire["source"] == {"topic": "logs", "partition": 2, "offset": 41}
    assert LogRecord.model_validate(wire) == record


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"timestamp": "2026-11-22T12:00:00"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),  # before year 1 in UTC
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp"),  # after 9999 in UTC
        ({"level": "loud"}, "level"),
        ({"service": ""}, "service"),
        ({"message": "x" * (256 * 1024 + 1)}, "message"),
        ({"source": {"topic": "logs", "partition": -1, "offset": 0}}, "source.partition"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_log_records_name_the_field(change: dict[str, Any], path: str) -> None:
    document = {"timestamp": "2026-11-22T12:00:00Z", "message": "m", "service": "s", **change}
    with pytest.raises(ValidationError) as raised:
        LogRecord.model_validate(document)
    assert path in [problem.path for problem in describe(raised.value)]


def test_level_rank_orders_severity() -> None:
    assert Level.ERROR.rank > Level.WARN.rank > Level.INFO.rank
    assert Level.UNKNOWN.rank < Level.TRACE.rank


# --- Incident --------------------------------------------------------------------------------


def incident(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "error-burst-3f2a", "namespace": "shop"},
        "spec": {
            "rule": "error-burst",
            "incidentType": "ErrorBurst",
            "severity": "high",
            "fingerprint": "3f2a9c0d11e4b7a8",
            "service": "checkout",
            "target": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
            "firstSeen": "2026-11-22T12:00:00Z",
            "lastSeen": "2026-11-22T12:01:00Z",
            "occurrences": 3,
            "evidence": {
                "samples": [
                    {"timestamp": "2026-11-22T12:00:01Z", "level": "error", "message": "boom"}
                ],
                "offsets": [{"topic": "logs", "partition": 1, "firstOffset": 10, "lastOffset": 60}],
                "window": {
                    "start": "2026-11-22T11:59:00Z",
                    "end": "2026-11-22T12:00:00Z",
                    "statistic": "count",
                    "value": 51,
                    "threshold": 50,
                    "matched": 51,
                },
            },
            **spec,
        },
        "status": {
            "phase": "Remediating",
            "actions": [
                {
                    "playbook": "heal-bad-rollout",
                    "step": "rolloutRestart",
                    "type": "rolloutRestart",
                    "startedAt": "2026-11-22T12:01:02Z",
                    "result": "Refused",
                    "guard": "cooldownPerTarget",
                    "message": "target restarted 3m ago",
                }
            ],
        },
    }


def test_valid_incident() -> None:
    parsed = parse_manifest(incident())
    assert isinstance(parsed, Incident)
    assert parsed.status is not None
    assert parsed.status.phase is IncidentPhase.REMEDIATING
    assert str(parsed.spec.target) == "Deployment/shop/checkout"


def test_incident_status_defaults_to_open() -> None:
    document = incident()
    del document["status"]
    parsed = Incident.from_manifest(document)
    assert parsed.status is None, "status is written by the operator, not the creator"
    assert IncidentStatus().phase is IncidentPhase.OPEN


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"fingerprint": "XYZ"}, "spec.fingerprint"),
        ({"lastSeen": "2026-11-22T11:00:00Z"}, "spec.lastSeen"),
        ({"occurrences": 0}, "spec.occurrences"),
        ({"target": {"kind": "CronJob", "namespace": "shop", "name": "x"}}, "spec.target.kind"),
        (
            {
                "evidence": {
                    "offsets": [{"topic": "l", "partition": 0, "firstOffset": 9, "lastOffset": 3}]
                }
            },
            "spec.evidence.offsets[0].lastOffset",
        ),
        (
            {"evidence": {"samples": [{"timestamp": "2026-11-22T12:00:00Z", "message": "m"}] * 21}},
            "spec.evidence.samples",
        ),
    ],
)
def test_invalid_incidents_name_the_field(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidResourceError) as raised:
        parse_manifest(incident(**spec))
    assert path in [problem.path for problem in raised.value.problems]


# --- LogPipeline -----------------------------------------------------------------------------


def pipeline(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "LogPipeline",
        "metadata": {"name": "logs", "namespace": "logsentinel-system"},
        "spec": {
            "kafka": {"bootstrapServers": ["kafka:9092"]},
            "processors": {"databaseSecretRef": {"name": "db", "key": "url"}},
            **spec,
        },
    }


def test_minimal_pipeline_gets_safe_defaults() -> None:
    parsed = LogPipeline.from_manifest(pipeline())
    assert parsed.spec.buffer.type.value == "hostPath"
    assert parsed.spec.buffer.host_path is not None
    assert parsed.spec.buffer.total_limit_size == "1Gi"
    assert parsed.spec.agent.inputs.exclude_namespaces == ["kube-system"]
    assert parsed.spec.processors.max_record_size == "256Ki"


def test_ephemeral_buffer_within_volume() -> None:
    parsed = LogPipeline.from_manifest(
        pipeline(
            buffer={"type": "ephemeral", "totalLimitSize": "4Gi", "ephemeral": {"size": "4Gi"}}
        )
    )
    assert parsed.spec.buffer.ephemeral is not None


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        ({"buffer": {"type": "ephemeral"}}, "spec.buffer.ephemeral", "required"),
        (
            {
                "buffer": {
                    "type": "ephemeral",
                    "ephemeral": {"size": "1Gi"},
                    "totalLimitSize": "2Gi",
                }
            },
            "spec.buffer.totalLimitSize",
            "larger than the volume",
        ),
        (
            {"buffer": {"type": "hostPath", "ephemeral": {"size": "1Gi"}}},
            "spec.buffer.ephemeral",
            "must not be set",
        ),
        (
            {"buffer": {"hostPath": {"path": "relative/dir"}}},
            "spec.buffer.hostPath.path",
            "pattern",
        ),
        ({"buffer": {"totalLimitSize": "lots"}}, "spec.buffer.totalLimitSize", "quantity"),
        ({"kafka": {"bootstrapServers": ["no-port"]}}, "spec.kafka.bootstrapServers[0]", "pattern"),
        (
            {"kafka": {"bootstrapServers": ["k:9092"], "partitions": 0}},
            "spec.kafka.partitions",
            "greater than or equal to 1",
        ),
        (
            {"kafka": {"bootstrapServers": ["k:9092"], "topic": "bad topic"}},
            "spec.kafka.topic",
            "pattern",
        ),
        (
            {
                "kafka": {
                    "bootstrapServers": ["k:9092"],
                    "sasl": {"mechanism": "MD5", "secretRef": {"name": "s"}},
                }
            },
            "spec.kafka.sasl.mechanism",
            "PLAIN",
        ),
        ({"agent": {"flushInterval": "0s"}}, "spec.agent.flushInterval", "positive"),
        (
            {"agent": {"tolerations": [{"effect": "Sometimes"}]}},
            "spec.agent.tolerations[0].effect",
            "NoSchedule",
        ),
        (
            {"agent": {"resources": {"limits": {"memory": "lots"}}}},
            "spec.agent.resources.limits.memory",
            "quantity",
        ),
        ({"processors": {}}, "spec.processors.databaseSecretRef", "required"),
        (
            {"processors": {"databaseSecretRef": {"name": "db", "key": "url"}, "replicas": 0}},
            "spec.processors.replicas",
            "greater than or equal to 1",
        ),
        (
            {
                "processors": {
                    "databaseSecretRef": {"name": "db", "key": "url"},
                    "customParsers": [
                        {"name": "a", "regex": "(?P<x>.)"},
                        {"name": "a", "regex": "(?P<y>.)"},
                    ],
                }
            },
            "spec.processors.customParsers[1].name",
            "duplicate",
        ),
    ],
)
def test_invalid_pipelines_name_the_field(spec: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(InvalidResourceError) as raised:
        LogPipeline.from_manifest(pipeline(**spec))
    found = {problem.path: problem.message for problem in raised.value.problems}
    assert path in found, found
    assert fragment in found[path]


def test_unknown_kind_is_reported() -> None:
    with pytest.raises(InvalidResourceError, match="kind: must be one of"):
        parse_manifest({"kind": "Alert"})
    with pytest.raises(InvalidResourceError, match="expected a mapping"):
        parse_manifest(["not", "a", "mapping"])
