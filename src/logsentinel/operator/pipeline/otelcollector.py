"""The OpenTelemetry Collector agent's configuration, rendered from a LogPipeline.

The collector (the ``otelcol-logsentinel`` distribution: filelog receiver, k8s_attributes and
resource processors, file_storage extension, Kafka exporter) gives the same guarantees as the
Fluent Bit agent:

- **Nothing read twice or skipped across restarts**: the filelog receiver keeps its file
  offsets in ``file_storage`` on the buffer volume, and new files are read from their start.
- **A disk buffer bounded by spec.buffer.totalLimitSize**: the exporter's sending queue is
  persistent (``file_storage``), each bbolt file is capped at the limit, and the queue holds
  at most :data:`QUEUE_SHARE` of what bbolt can use of it (:func:`queue_bytes`), so the queue
  refuses before its storage is full.
- **Loss when the buffer is full is counted, never silent**: a full queue refuses the batch at
  once and the receiver does not retry, so the agent goes on reading and the refused lines are
  counted in its metrics (:data:`DROPPED_RECORDS_METRICS`, served on :data:`METRICS_PORT`),
  which the operator reports on the LogPipeline. Waiting instead would
  stop reading, and the kubelet's log rotation would then delete lines nobody counted. The
  memory limiter refuses (and so counts) the same way when the agent nears its memory limit.
- **Acks from all replicas, idempotent produce, one request in flight**: records of a key stay
  in order.
- **Key = the service's identity**: ``partition_logs_by_resource_attributes`` keys each message
  by a hash of its resource attributes. Per-pod attributes (pod, uid, container, node) are
  copied to the log records by the receiver and deleted from the resource after the
  k8s_attributes processor has used them, so the resource holds only the namespace, the owning
  workload and the service labels: one key per service, as Fluent Bit's ``namespace/service``
  key (detection state is partition-local).
- **Messages no larger than the processors accept**: the sending queue's batcher splits requests
  at :data:`MESSAGE_SIZE_FRACTION` of spec.processors.maxRecordSize (in bytes of OTLP protobuf).

Every message carries the header FORMAT_HEADER with OTLP_LOGS_FORMAT (the processors' decoder
reads it); the value is an OTLP ``ExportLogsServiceRequest`` in protobuf.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

import yaml

from logsentinel.domain.logrecord import FORMAT_HEADER, OTLP_LOGS_FORMAT
from logsentinel.domain.pipeline import LogPipelineSpec, MultilineLanguage
from logsentinel.domain.types import quantity_value
from logsentinel.operator.pipeline.buffer import storage_limit
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.kafka import (
    SASL_PASSWORD_ENV,
    SASL_USERNAME_ENV,
    TLS_DIRECTORY,
    security_protocol,
)
from logsentinel.parsing import otlp

CONFIG_FILE = "collector.yaml"
POD_LOG_DIRECTORY = "/var/log/pods"
HEALTH_PORT = 13133
HEALTH_PATH = "/"
METRICS_PORT = 8888
METRICS_PATH = "/metrics"
DROPPED_RECORDS_METRICS = (
    "otelcol_receiver_refused_log_records",
    "otelcol_exporter_send_failed_log_records",
)
"""Lines the receiver read and the pipeline refused (the queue full, or the memory limiter),
and lines Kafka refused for good (a permanent error, e.g. a message too large)."""
NODE_NAME_ENV = "K8S_NODE_NAME"

BBOLT_GROWTH_BYTES = 16 * 2**20
"""bbolt grows its file by this much beyond what it needs, and refuses to grow past max_size:
the queue's data must stay this far under max_size."""
QUEUE_SHARE = Decimal("0.5")
"""The sending queue's share of the room bbolt can use, in bytes of queued requests; the rest
covers page overhead and fragmentation. Reading a queue whose storage is full loses items
without a count, so the queue must refuse first."""
MESSAGE_SIZE_FRACTION = Decimal("0.9")
"""A split request's protobuf size stays below this share of maxRecordSize: the header and a
resource repeated per message must still fit."""
SHUTDOWN_GRACE_SECONDS = 10
MEMORY_LIMIT_PERCENT = 80
MEMORY_SPIKE_PERCENT = 20
REBOUND_NEEDED_MIB = 100
REBOUND_TRIGGER_MIB = 10

# The names parsing.otlp reads. The receiver's container parser puts pod, container, uid and
# restart count on the resource; the per-pod ones are copied to each record before the
# processors, and all four deleted from the resource after them.
POD_ATTRIBUTES = (otlp.POD_ATTRIBUTE, otlp.CONTAINER_ATTRIBUTE)
RESOURCE_ONLY_POD_ATTRIBUTES = ("k8s.pod.uid", "k8s.container.restart_count")

# Lines that continue the previous entry (a stack trace's frames) for each language; any other
# line starts a new entry. Go (RE2) regular expressions, as the recombine operator's expr uses.
CONTINUATION_LINES: dict[MultilineLanguage, tuple[str, ...]] = {
    MultilineLanguage.JAVA: (
        r"^\s+at\s",
        r"^\s+\.\.\.\s\d+\s(more|common frames omitted)",
        r"^\s*(Caused by|Suppressed):\s",
    ),
    MultilineLanguage.PYTHON: (
        r"^\s+",
        r"^(During handling of the above exception|The above exception was the direct cause)",
        r"^[A-Za-z_][\w.]*(Error|Exception|Warning|Exit|Interrupt)(:|$)",
    ),
    MultilineLanguage.GO: (
        r"^\s+",
        r"^goroutine\s\d+\s\[",
        r"^created by\s",
        r"^[\w./*()-]+\(.*\)$",
        r"^$",
    ),
}


def collector_files(
    spec: LogPipelineSpec, *, storage_path: str, client_certificate: bool = False
) -> dict[str, str]:
    """The ConfigMap data: collector.yaml for ``spec``.

    ``storage_path``: where the buffer volume is mounted in the collector container.
    ``client_certificate``: the Kafka TLS Secret also holds tls.crt/tls.key (mutual TLS).
    """
    storage = storage_path.rstrip("/")
    config = {
        "extensions": {
            "file_storage": file_storage(spec, storage),
            "health_check": {"endpoint": f"0.0.0.0:{HEALTH_PORT}"},
        },
        "receivers": {"file_log": file_log(spec)},
        "processors": {
            "memory_limiter": {
                "check_interval": "1s",
                "limit_percentage": MEMORY_LIMIT_PERCENT,
                "spike_limit_percentage": MEMORY_SPIKE_PERCENT,
            },
            "k8s_attributes": k8s_attributes(),
            "resource": {
                "attributes": [
                    {"key": key, "action": "delete"}
                    for key in (*POD_ATTRIBUTES, *RESOURCE_ONLY_POD_ATTRIBUTES)
                ]
            },
        },
        "exporters": {"kafka": kafka_exporter(spec, client_certificate=client_certificate)},
        "service": {
            "extensions": ["file_storage", "health_check"],
            "pipelines": {
                "logs": {
                    "receivers": ["file_log"],
                    "processors": ["memory_limiter", "k8s_attributes", "resource"],
                    "exporters": ["kafka"],
                }
            },
            "telemetry": {
                "logs": {"encoding": "json", "level": "info"},
                "metrics": {
                    "level": "normal",
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {"host": "0.0.0.0", "port": METRICS_PORT}
                                }
                            }
                        }
                    ],
                },
            },
        },
    }
    return {CONFIG_FILE: yaml.safe_dump(config, sort_keys=False, width=2**16)}


def file_storage(spec: LogPipelineSpec, directory: str) -> dict[str, Any]:
    """Offsets and the persistent queue on the buffer volume, compacted as it empties."""
    limit = storage_limit(spec)
    needed = min(REBOUND_NEEDED_MIB, limit // 2**20 // 2)
    return {
        "directory": directory,
        "create_directory": True,
        "max_size": limit,
        "compaction": {
            "directory": directory,
            "on_start": True,
            "on_rebound": True,
            "rebound_needed_threshold_mib": needed,
            "rebound_trigger_threshold_mib": min(REBOUND_TRIGGER_MIB, needed // 2),
            "cleanup_on_start": True,
        },
    }


def exclude_paths(spec: LogPipelineSpec) -> list[str]:
    """One pattern per excluded namespace (pod directories are <namespace>_<pod>_<uid>)."""
    return [
        f"{POD_LOG_DIRECTORY}/{namespace}_*/*/*.log"
        for namespace in spec.agent.inputs.exclude_namespaces
    ]


def file_log(spec: LogPipelineSpec) -> dict[str, Any]:
    """The receiver: container log files, parsed (CRI/docker), pod identity onto each record."""
    operators: list[dict[str, Any]] = [
        {"type": "container", "id": "container", "add_metadata_from_filepath": True},
        *multiline_operators(spec),
        *(
            {"type": "copy", "from": f'resource["{key}"]', "to": f'attributes["{key}"]'}
            for key in POD_ATTRIBUTES
        ),
        {
            "type": "add",
            "field": f'attributes["{otlp.NODE_ATTRIBUTE}"]',
            "value": f'EXPR(env("{NODE_NAME_ENV}"))',
        },
    ]
    receiver: dict[str, Any] = {
        "include": spec.agent.log_paths,
        "include_file_path": True,
        "include_file_name": False,
        "start_at": "beginning",
        "poll_interval": _duration(spec.agent.flush_interval.total_seconds()),
        "storage": "file_storage",
        "max_log_size": max_record_bytes(spec),
        # A refused batch is dropped and counted (see the module docstring), not retried.
        "retry_on_failure": {"enabled": False},
        "operators": operators,
    }
    excluded = exclude_paths(spec)
    if excluded:
        receiver["exclude"] = excluded
    return receiver


def multiline_operators(spec: LogPipelineSpec) -> list[dict[str, Any]]:
    """A recombine operator joining the chosen languages' stack traces, or nothing."""
    multiline = spec.agent.multiline
    if not multiline.enabled:
        return []
    if not multiline.parsers:
        raise PipelineRenderError(
            "spec.agent.multiline.parsers",
            "is empty while multiline is enabled: list parsers or set enabled: false",
        )
    patterns = [
        pattern
        for language in dict.fromkeys(multiline.parsers)
        for pattern in CONTINUATION_LINES[language]
    ]
    continuation = "|".join(f"(?:{pattern})" for pattern in dict.fromkeys(patterns))
    return [
        {
            "type": "recombine",
            "combine_field": "body",
            "combine_with": "\n",
            "source_identifier": 'attributes["log.file.path"]',
            "is_first_entry": f"not (body matches {_expr_string(continuation)})",
            "force_flush_period": _duration(max(1.0, spec.agent.flush_interval.total_seconds())),
            "max_log_size": max_record_bytes(spec),
        }
    ]


def k8s_attributes() -> dict[str, Any]:
    """Owner workload and service labels of the pod, from this node's pods only."""
    return {
        "auth_type": "serviceAccount",
        "filter": {"node_from_env_var": NODE_NAME_ENV},
        "wait_for_metadata": True,
        "wait_for_metadata_timeout": "30s",
        "pod_association": [{"sources": [{"from": "resource_attribute", "name": "k8s.pod.uid"}]}],
        "extract": {
            "metadata": list(otlp.OWNER_ATTRIBUTES),
            "labels": [
                {"tag_name": f"{otlp.POD_LABEL_PREFIX}{label}", "key": label, "from": "pod"}
                for label in otlp.SERVICE_LABELS
            ],
        },
    }


def max_record_bytes(spec: LogPipelineSpec) -> int:
    """spec.processors.maxRecordSize in bytes: the longest line the receiver joins."""
    return int(quantity_value(spec.processors.max_record_size).to_integral_value(ROUND_FLOOR))


def queue_bytes(spec: LogPipelineSpec) -> int:
    """How many bytes of requests the persistent sending queue holds before it refuses more."""
    room = storage_limit(spec) - BBOLT_GROWTH_BYTES
    return int((room * QUEUE_SHARE).to_integral_value(ROUND_FLOOR))


def kafka_exporter(spec: LogPipelineSpec, *, client_certificate: bool = False) -> dict[str, Any]:
    kafka = spec.kafka
    max_message = int(max_record_bytes(spec) * MESSAGE_SIZE_FRACTION)
    exporter: dict[str, Any] = {
        "brokers": list(kafka.bootstrap_servers),
        "logs": {"topic": kafka.topic, "encoding": "otlp_proto"},
        "partition_logs_by_resource_attributes": True,
        "record_headers": [{"name": FORMAT_HEADER, "value": OTLP_LOGS_FORMAT.decode()}],
        "producer": {
            "required_acks": "all",
            "max_inflight_requests_per_broker": 1,
            "compression": "zstd",
            "linger": "5ms",
        },
        # Retries are cheap (one connection attempt); a short ceiling delivers the backlog soon
        # after the brokers return.
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": "1s",
            "max_interval": "5s",
            "max_elapsed_time": "0s",
        },
        "sending_queue": {
            "enabled": True,
            "storage": "file_storage",
            "num_consumers": 1,
            "sizer": "bytes",
            "queue_size": queue_bytes(spec),
            "block_on_overflow": False,
            "batch": {
                "sizer": "bytes",
                "min_size": 0,
                "max_size": max_message,
                "flush_timeout": "200ms",
            },
        },
    }
    exporter.update(kafka_security(spec, client_certificate=client_certificate))
    return exporter


def kafka_security(spec: LogPipelineSpec, *, client_certificate: bool) -> dict[str, Any]:
    """tls and auth.sasl settings: files from the mounted Secret, credentials from env vars."""
    kafka = spec.kafka
    if security_protocol(kafka) is None:
        return {}
    settings: dict[str, Any] = {}
    if kafka.tls is not None:
        tls: dict[str, Any] = {"ca_file": f"{TLS_DIRECTORY}/ca.crt"}
        if client_certificate:
            tls["cert_file"] = f"{TLS_DIRECTORY}/tls.crt"
            tls["key_file"] = f"{TLS_DIRECTORY}/tls.key"
        settings["tls"] = tls
    if kafka.sasl is not None:
        settings["auth"] = {
            "sasl": {
                "mechanism": kafka.sasl.mechanism.value,
                "username": "${env:" + SASL_USERNAME_ENV + "}",
                "password": "${env:" + SASL_PASSWORD_ENV + "}",
            }
        }
    return settings


def _duration(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def _expr_string(text: str) -> str:
    """A double-quoted string literal of the expr language (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
