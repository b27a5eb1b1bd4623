"""Helpers for the parsing tests: fixture files and Fluent Bit values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from logsentinel.domain import LogRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_TIME = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
"""Around when the fixtures and fluent_bit_value() say their records were written."""


def fixture_clock() -> datetime:
    """A decoder clock for records written at FIXTURE_TIME (inside its event-time window)."""
    return FIXTURE_TIME


def load_fixture(relative: str) -> Any:
    return yaml.safe_load((FIXTURES / relative).read_text(encoding="utf-8"))


KUBERNETES: dict[str, Any] = {
    "pod_name": "checkout-7d9f8b6c5d-x2x9k",
    "namespace_name": "shop",
    "labels": {"app.kubernetes.io/name": "checkout"},
    "host": "node-1",
    "container_name": "checkout",
}
"""The kubernetes filter's metadata in fluent_bit_value (copy it to change it)."""


def fluent_bit_value(log: object, **overrides: Any) -> bytes:
    """A Kafka value shaped like our Fluent Bit configuration's output."""
    record: dict[str, Any] = {
        "@timestamp": "2026-11-22T12:00:00.000001Z",
        "time": "2026-11-22T12:00:00.000001000Z",
        "stream": "stdout",
        "_p": "F",
        "log": log,
        "kubernetes": KUBERNETES,
        "logsentinel_key": "shop/checkout",
    }
    record.update(overrides)
    return json.dumps(record).encode()


def revalidated(record: LogRecord) -> LogRecord:
    """The record after a round trip through full pydantic validation."""
    return LogRecord.model_validate_json(record.model_dump_json(by_alias=True))


def otlp_value(
    *bodies: object,
    namespace: str | None = "shop",
    pod: str | None = "checkout-7d9f8b6c5d-x2x9k",
    container: str = "app",
    resource: dict[str, str] | None = None,
    written: datetime = FIXTURE_TIME,
) -> bytes:
    """A Kafka value shaped like the collector agent's: one resource, one record per body (a
    string, or a dict for a structured body), pod names on the records."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def pair(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    attributes = {"k8s.deployment.name": "checkout", **(resource or {})}
    if namespace is not None:
        attributes["k8s.namespace.name"] = namespace
    resource_logs.resource.attributes.extend(pair(k, v) for k, v in attributes.items())
    scope = resource_logs.scope_logs.add()
    nanoseconds = int(written.timestamp() * 1_000_000) * 1000
    for body in bodies:
        record = scope.log_records.add()
        record.time_unix_nano = nanoseconds
        record.observed_time_unix_nano = nanoseconds
        if isinstance(body, dict):
            for key, value in body.items():
                record.body.kvlist_value.values.append(pair(key, str(value)))
        elif body is not None:
            record.body.string_value = str(body)
        record_attributes = {"k8s.container.name": container, "log.iostream": "stdout"}
        if pod is not None:
            record_attributes["k8s.pod.name"] = pod
        record.attributes.extend(pair(k, v) for k, v in record_attributes.items())
    return request.SerializeToString()
