"""Rendering of the OpenTelemetry Collector agent (spec.agent.type: otelCollector): the same
DaemonSet guarantees as Fluent Bit, and a collector.yaml that buffers on disk, keys by service
and produces with acks from all replicas."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from test_pipeline_render import find, pipeline

from logsentinel.domain.logrecord import FORMAT_HEADER, OTLP_LOGS_FORMAT
from logsentinel.domain.pipeline import DEFAULT_OTEL_COLLECTOR_IMAGE
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.render import render

OTEL = {"type": "otelCollector"}


def collector_config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    data = find(objects, "ConfigMap", "logs-otel-collector")["data"]
    return dict(yaml.safe_load(data["collector.yaml"]))


def agent_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    daemon_set = find(objects, "DaemonSet")
    return dict(daemon_set["spec"]["template"]["spec"]["containers"][0])


def test_the_collector_daemon_set_mounts_logs_buffer_and_its_configuration() -> None:
    objects = render(pipeline(agent=OTEL))
    daemon_set = find(objects, "DaemonSet")
    assert daemon_set["metadata"]["name"] == "logs-otel-collector"
    container = agent_container(objects)
    assert container["image"] == DEFAULT_OTEL_COLLECTOR_IMAGE
    assert container["args"] == ["--config=file:/etc/otelcol-logsentinel/collector.yaml"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {
        "config": "/etc/otelcol-logsentinel",
        "varlog": "/var/log",
        "buffer": "/var/lib/logsentinel/fluent-bit",
    }
    assert container["env"][0]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert container["readinessProbe"]["httpGet"] == {"path": "/", "port": 13133}
    assert not [o for o in objects if "fluent-bit" in o["metadata"]["name"]]


def test_the_collector_may_read_replica_sets_to_find_a_pods_deployment() -> None:
    role = find(
        render(pipeline(agent=OTEL)), "ClusterRole", "logsentinel-observability-logs-otel-collector"
    )
    assert {
        "apiGroups": ["apps"],
        "resources": ["replicasets"],
        "verbs": ["get", "list", "watch"],
    } in role["rules"]
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])


def test_the_exporter_produces_idempotently_keyed_by_resource_with_the_format_header() -> None:
    kafka = collector_config(render(pipeline(agent=OTEL)))["exporters"]["kafka"]
    assert kafka["brokers"] == ["kafka-0.kafka:9092", "kafka-1.kafka:9092"]
    assert kafka["logs"] == {"topic": "logsentinel-logs", "encoding": "otlp_proto"}
    assert kafka["producer"]["required_acks"] == "all"
    assert kafka["producer"]["max_inflight_requests_per_broker"] == 1
    assert kafka["partition_logs_by_resource_attributes"] is True
    assert kafka["record_headers"] == [{"name": FORMAT_HEADER, "value": OTLP_LOGS_FORMAT.decode()}]
    queue = kafka["sending_queue"]
    assert queue["storage"] == "file_storage"
    assert queue["num_consumers"] == 1
    assert queue["batch"]["max_size"] == int(256 * 1024 * 0.9)  # below maxRecordSize


def test_a_full_buffer_drops_and_counts_instead_of_stopping_the_reader() -> None:
    spec = {"agent": OTEL, "buffer": {"totalLimitSize": "64Mi"}}
    config = collector_config(render(pipeline(**spec)))
    queue = config["exporters"]["kafka"]["sending_queue"]
    # The queue refuses at once when its bytes reach half of what bbolt can use of the limit
    # (bbolt grows its file 16 MiB beyond what it needs, and not past max_size) ...
    assert (queue["sizer"], queue["queue_size"]) == ("bytes", (64 - 16) // 2 * 2**20)
    assert queue["block_on_overflow"] is False
    # ... and the receiver does not retry a refused batch: it reads on and counts the loss.
    assert config["receivers"]["file_log"]["retry_on_failure"] == {"enabled": False}
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]
    assert reader["pull"]["exporter"]["prometheus"] == {"host": "0.0.0.0", "port": 8888}
    ports = {
        p["name"]: p["containerPort"] for p in agent_container(render(pipeline(**spec)))["ports"]
    }
    assert ports == {"http": 13133, "metrics": 8888}


def test_per_pod_attributes_leave_the_resource_so_the_key_is_per_service() -> None:
    config = collector_config(render(pipeline(agent=OTEL)))
    copied = {
        op["from"] for op in config["receivers"]["file_log"]["operators"] if op["type"] == "copy"
    }
    assert copied == {'resource["k8s.pod.name"]', 'resource["k8s.container.name"]'}
    deleted = {a["key"] for a in config["processors"]["resource"]["attributes"]}
    assert deleted == {
        "k8s.pod.name",
        "k8s.container.name",
        "k8s.pod.uid",
        "k8s.container.restart_count",
    }
    order = config["service"]["pipelines"]["logs"]["processors"]
    assert order.index("k8s_attributes") < order.index("resource")


def test_the_disk_buffer_holds_offsets_and_queue_bounded_by_total_limit_size() -> None:
    spec = {"agent": OTEL, "buffer": {"totalLimitSize": "64Mi"}}
    config = collector_config(render(pipeline(**spec)))
    storage = config["extensions"]["file_storage"]
    assert storage["max_size"] == 64 * 2**20
    assert storage["compaction"]["rebound_needed_threshold_mib"] * 2**20 <= storage["max_size"]
    assert config["receivers"]["file_log"]["storage"] == "file_storage"
    assert config["receivers"]["file_log"]["start_at"] == "beginning"


def test_a_buffer_under_32mi_is_refused() -> None:
    with pytest.raises(PipelineRenderError) as error:
        render(pipeline(agent=OTEL, buffer={"totalLimitSize": "8Mi"}))
    assert error.value.field == "spec.buffer.totalLimitSize"


def test_excluded_namespaces_and_paths_follow_the_pod_log_layout() -> None:
    spec = {**OTEL, "inputs": {"excludeNamespaces": ["kube-system", "ops"]}}
    receiver = collector_config(render(pipeline(agent=spec)))["receivers"]["file_log"]
    assert receiver["include"] == ["/var/log/pods/*/*/*.log"]
    assert receiver["exclude"] == [
        "/var/log/pods/kube-system_*/*/*.log",
        "/var/log/pods/ops_*/*/*.log",
    ]
    none = {**OTEL, "inputs": {"excludeNamespaces": []}}
    assert "exclude" not in collector_config(render(pipeline(agent=none)))["receivers"]["file_log"]


def _is_first_entry(config: dict[str, Any]) -> str | None:
    operators = config["receivers"]["file_log"]["operators"]
    found = [op["is_first_entry"] for op in operators if op["type"] == "recombine"]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("line", "starts"),
    [
        ("2026-12-05 ERROR payment failed", True),
        ('{"level":"info","msg":"ok"}', True),
        ("\tat com.shop.Pay.run(Pay.java:12)", False),
        ("Caused by: java.io.IOException: boom", False),
        ('  File "app.py", line 3, in <module>', False),
        ("ValueError: bad amount", False),
        ("goroutine 1 [running]:", False),
    ],
)
def test_multiline_joins_stack_trace_lines_to_the_line_before(line: str, starts: bool) -> None:
    expression = _is_first_entry(collector_config(render(pipeline(agent=OTEL))))
    assert expression is not None
    quoted = re.fullmatch(r'not \(body matches "(.*)"\)', expression)
    assert quoted is not None
    pattern = quoted[1].replace('\\"', '"').replace("\\\\", "\\")
    assert (re.search(pattern, line) is None) is starts


def test_multiline_can_be_switched_off_but_not_left_without_parsers() -> None:
    off = {**OTEL, "multiline": {"enabled": False}}
    assert _is_first_entry(collector_config(render(pipeline(agent=off)))) is None
    with pytest.raises(PipelineRenderError) as error:
        render(pipeline(agent={**OTEL, "multiline": {"parsers": []}}))
    assert error.value.field == "spec.agent.multiline.parsers"


def test_kafka_tls_and_sasl_come_from_the_mounted_secret_and_env() -> None:
    kafka = {
        "tls": {"secretRef": {"name": "kafka-tls"}},
        "sasl": {"mechanism": "SCRAM-SHA-512", "secretRef": {"name": "kafka-user"}},
    }
    objects = render(pipeline(agent=OTEL, kafka=kafka), client_certificate=True)
    exporter = collector_config(objects)["exporters"]["kafka"]
    assert exporter["tls"]["ca_file"].endswith("/ca.crt")
    assert exporter["tls"]["cert_file"].endswith("/tls.crt")
    assert exporter["auth"]["sasl"]["mechanism"] == "SCRAM-SHA-512"
    assert exporter["auth"]["sasl"]["password"] == "${env:KAFKA_SASL_PASSWORD}"
    env = {e["name"] for e in agent_container(objects)["env"]}
    assert {"K8S_NODE_NAME", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} <= env
