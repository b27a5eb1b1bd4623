"""The shape the OpenTelemetry Collector agent writes to Kafka: OTLP logs in protobuf.

One Kafka value is an ``ExportLogsServiceRequest`` (the Kafka exporter's ``otlp_proto``
encoding) holding any number of log records. The agent's configuration (rendered by the
operator from the names below) puts on each record:

- the line as the body (a string; the container parser has removed the CRI/docker framing
  and joined partial lines), the time the runtime wrote it as ``time_unix_nano``;
- attributes ``k8s.pod.name``, ``k8s.container.name``, ``k8s.node.name`` and
  ``log.iostream`` (stdout/stderr);

and on the resource (the Kafka key is a hash of it, one per service):

- ``k8s.namespace.name``; the owning workload (``k8s.deployment.name``, ...), and the service
  labels as ``k8s.pod.labels.<label>``.

Each record becomes the same :class:`~logsentinel.parsing.fluentbit.Envelope` a Fluent Bit
record does, so both agents' lines are parsed and attributed alike. A pod or namespace missing
is invalid (as for Fluent Bit: guessing would attribute one tenant's logs to another).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from logsentinel.parsing.attributes import clean_text
from logsentinel.parsing.errors import DeadLetterError, DeadLetterReason
from logsentinel.parsing.fluentbit import MAX_LABEL_VALUE, MAX_NAME, Envelope, Pod
from logsentinel.parsing.workload import SERVICE_LABELS, service_name

NAMESPACE_ATTRIBUTE = "k8s.namespace.name"
POD_ATTRIBUTE = "k8s.pod.name"
CONTAINER_ATTRIBUTE = "k8s.container.name"
NODE_ATTRIBUTE = "k8s.node.name"
STREAM_ATTRIBUTE = "log.iostream"
POD_LABEL_PREFIX = "k8s.pod.labels."
OWNER_ATTRIBUTES = (
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.job.name",
)
"""The pod's owning workload, first found wins; it names the service when no label does."""
__all__ = [
    "CONTAINER_ATTRIBUTE",
    "NAMESPACE_ATTRIBUTE",
    "NODE_ATTRIBUTE",
    "OWNER_ATTRIBUTES",
    "POD_ATTRIBUTE",
    "POD_LABEL_PREFIX",
    "SERVICE_LABELS",
    "STREAM_ATTRIBUTE",
    "OtlpRecord",
    "read_request",
]

_STREAMS = frozenset({"stdout", "stderr"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _invalid(detail: str) -> DeadLetterError:
    return DeadLetterError(DeadLetterReason.INVALID, detail)


@dataclass(slots=True)
class OtlpRecord:
    """One log record of a request: its envelope, or why it cannot be one."""

    index: int
    envelope: Envelope | None
    error: DeadLetterError | None


def read_request(value: bytes, clean: bool) -> Iterator[OtlpRecord]:
    """Every log record of one Kafka value, in order. Raises DeadLetterError (undecodable)
    when the value is not an OTLP logs request; a bad record is reported in its OtlpRecord and
    the others still come."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(value)
    except DecodeError as error:
        raise DeadLetterError(
            DeadLetterReason.UNDECODABLE, f"value: not an OTLP logs request: {error}"
        ) from None
    index = 0
    for resource_logs in request.resource_logs:
        resource = _strings(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                try:
                    attributes = _strings(record.attributes)
                    envelope = Envelope(
                        timestamp=_time(record.time_unix_nano, record.observed_time_unix_nano),
                        log=_body(record.body),
                        stream=_stream(attributes.get(STREAM_ATTRIBUTE)),
                        pod=_pod(resource, attributes, clean),
                    )
                    yield OtlpRecord(index, envelope, None)
                except DeadLetterError as error:
                    yield OtlpRecord(index, None, error)
                index += 1
    if index == 0:
        raise _invalid("value: an OTLP logs request without log records")


def _strings(attributes: Sequence[KeyValue]) -> dict[str, str]:
    """The string-valued attributes (the only kind the agent's configuration writes)."""
    return {
        item.key: item.value.string_value
        for item in attributes
        if item.value.WhichOneof("value") == "string_value"
    }


def _time(time_unix_nano: int, observed_time_unix_nano: int) -> datetime:
    nanoseconds = time_unix_nano or observed_time_unix_nano
    if nanoseconds == 0:
        raise _invalid("timeUnixNano: missing (and no observedTimeUnixNano)")
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


def _body(body: AnyValue) -> object:
    kind = body.WhichOneof("value")
    if kind == "string_value":
        return body.string_value
    if kind == "kvlist_value":
        return {item.key: _plain(item.value) for item in body.kvlist_value.values}
    if kind is None:
        raise _invalid("body: missing")
    raise _invalid(f"body: expected text, got {kind}")


def _plain(value: AnyValue) -> object:
    """A structured body's value as JSON-like data."""
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return {item.key: _plain(item.value) for item in value.kvlist_value.values}
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind is not None else None


def _stream(value: str | None) -> str | None:
    return value if value in _STREAMS else None


def _name(attributes: dict[str, str], key: str, required: bool, clean: bool, where: str) -> str:
    value = attributes.get(key, "")
    if value == "":
        if required:
            raise _invalid(f"{where}.{key}: missing")
        return ""
    if len(value) > MAX_NAME:
        raise _invalid(f"{where}.{key}: longer than {MAX_NAME} characters")
    return clean_text(value) if clean else value


def _pod(resource: dict[str, str], attributes: dict[str, str], clean: bool) -> Pod:
    """The record's workload identity: per-pod names from the record, the rest from the
    resource (a record name also wins over a resource one, should an older agent send it)."""
    merged = {**resource, **attributes}
    namespace = _name(resource, NAMESPACE_ATTRIBUTE, True, clean, "resource")
    pod = _name(merged, POD_ATTRIBUTE, True, clean, "attributes")
    labels: dict[str, str] = {}
    for key, value in resource.items():
        if key.startswith(POD_LABEL_PREFIX) and len(value) <= MAX_LABEL_VALUE:
            label = key.removeprefix(POD_LABEL_PREFIX)
            labels[clean_text(label) if clean else label] = clean_text(value) if clean else value
    owner = next((resource[key] for key in OWNER_ATTRIBUTES if resource.get(key)), None)
    service = service_name(labels, pod, owner)
    return Pod(
        namespace=namespace,
        pod=pod,
        container=_name(merged, CONTAINER_ATTRIBUTE, False, clean, "attributes"),
        node=_name(merged, NODE_ATTRIBUTE, False, clean, "attributes"),
        labels=labels,
        service=clean_text(service) if clean else service,
        raw_labels=labels,
    )
