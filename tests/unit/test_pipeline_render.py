"""LogPipeline rendering: the Fluent Bit configuration parsed back, the owned objects, the
processors' environment accepted by their settings, RBAC and render-time validation."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from logsentinel.domain.pipeline import CustomParser
from logsentinel.domain.resources import LogPipeline
from logsentinel.operator.pipeline import fluentbit_files
from logsentinel.operator.pipeline.collector import EPHEMERAL_BUFFER_PATH
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.fluentbit import fluent_bit_files
from logsentinel.operator.pipeline.kafka import TLS_DIRECTORY
from logsentinel.operator.pipeline.objects import content_hash
from logsentinel.operator.pipeline.processors import deployment_environment, processor_environment
from logsentinel.operator.pipeline.render import render
from logsentinel.processors.main import custom_parsers
from logsentinel.processors.settings import ProcessorSettings

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "examples" / "logpipeline.yaml"
UID = "0b5e4c1e-4a7e-4d7c-9c55-2f0d8a1e0c11"
NAMESPACE = "observability"
LABELS = {
    "app.kubernetes.io/managed-by": "logsentinel",
    "app.kubernetes.io/part-of": "logsentinel",
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}
DATABASE_URL = "postgresql://sentinel:db-s3cret@db:5432/logs"
SASL_USERNAME = "kafka-user-7f3a"
SASL_PASSWORD = "kafka-pa55-9q2w"


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def pipeline(uid: str | None = UID, **spec: Any) -> LogPipeline:
    metadata: dict[str, Any] = {"name": "logs", "namespace": NAMESPACE}
    if uid is not None:
        metadata["uid"] = uid
    base = {
        "kafka": {"bootstrapServers": ["kafka-0.kafka:9092", "kafka-1.kafka:9092"]},
        "processors": {"databaseSecretRef": {"name": "db", "key": "url"}},
    }
    return LogPipeline.from_manifest(
        {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "LogPipeline",
            "metadata": metadata,
            "spec": merged(base, spec),
        }
    )


def example() -> LogPipeline:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["metadata"]["uid"] = UID
    return LogPipeline.from_manifest(document)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [
        item
        for item in objects
        if item["kind"] == kind and (name is None or item["metadata"]["name"] == name)
    ]
    return found


def fluent_bit_config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (config_map,) = [
        item
        for item in objects
        if item["kind"] == "ConfigMap" and item["metadata"]["name"].endswith("-fluent-bit")
    ]
    config = yaml.safe_load(config_map["data"]["fluent-bit.yaml"])
    assert isinstance(config, dict)
    return config


def plugin(section: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [entry for entry in section if entry["name"] == name]
    return found


def kafka_output(config: dict[str, Any]) -> dict[str, Any]:
    return plugin(config["pipeline"]["outputs"], "kafka")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(workload)["containers"]
    assert isinstance(only, dict)
    return only


def config_hash(workload: dict[str, Any]) -> str:
    value: str = workload["spec"]["template"]["metadata"]["annotations"][
        "logsentinel.io/config-hash"
    ]
    return value


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


SECURE: dict[str, Any] = {
    "kafka": {
        "tls": {"secretRef": {"name": "kafka-tls"}},
        "sasl": {"mechanism": "SCRAM-SHA-512", "secretRef": {"name": "kafka-credentials"}},
    }
}
SECRETS = {
    ("db", "url"): DATABASE_URL,
    ("kafka-credentials", "username"): SASL_USERNAME,
    ("kafka-credentials", "password"): SASL_PASSWORD,
}


# --- fluent-bit.yaml ---------------------------------------------------------------------------


def test_example_kafka_output_service_and_storage() -> None:
    objects = render(example())
    config = yaml.safe_load(
        find(objects, "ConfigMap", "cluster-logs-fluent-bit")["data"]["fluent-bit.yaml"]
    )
    kafka = kafka_output(config)
    assert kafka["brokers"] == "kafka.logsentinel-system.svc:9092"
    assert kafka["topics"] == "logsentinel-logs"
    assert kafka["storage.total_limit_size"] == 2 * 2**30
    assert config["service"]["flush"] == 1
    assert config["service"]["storage.path"] == "/var/lib/logsentinel/fluent-bit/buffer"
    tail = plugin(config["pipeline"]["inputs"], "tail")
    assert tail["path"] == "/var/log/containers/*.log"
    assert tail["db"] == "/var/lib/logsentinel/fluent-bit/tail.db"
    assert tail["exclude_path"].split(",") == [
        "/var/log/containers/*_kube-system_*.log",
        "/var/log/containers/*_logsentinel-system_*.log",
    ]


def test_every_placeholder_is_filled_and_no_loss_settings_survive() -> None:
    objects = render(pipeline())
    text = find(objects, "ConfigMap", "logs-fluent-bit")["data"]["fluent-bit.yaml"]
    assert "${" not in text
    kafka = kafka_output(yaml.safe_load(text))
    assert kafka["brokers"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
    assert kafka["storage.total_limit_size"] == 2**30
    assert kafka["rdkafka.request.required.acks"] == -1
    assert kafka["rdkafka.enable.idempotence"] is True
    assert kafka["rdkafka.message.timeout.ms"] == 0
    assert kafka["retry_limit"] == "no_limits"
    assert kafka["timestamp_key"] == "@timestamp"
    assert not any(key.startswith("rdkafka.s") for key in kafka)  # no TLS/SASL asked for


@pytest.mark.parametrize(("interval", "seconds"), [("1s", 1), ("5s", 5), ("500ms", 0.5)])
def test_flush_interval_in_seconds(interval: str, seconds: float) -> None:
    config = fluent_bit_config(render(pipeline(agent={"flushInterval": interval})))
    assert config["service"]["flush"] == seconds


def test_no_excluded_namespaces_means_no_exclude_path() -> None:
    config = fluent_bit_config(render(pipeline(agent={"inputs": {"excludeNamespaces": []}})))
    assert "exclude_path" not in plugin(config["pipeline"]["inputs"], "tail")


def test_several_log_paths_are_joined() -> None:
    paths = ["/var/log/containers/a*.log", "/var/log/containers/b*.log"]
    config = fluent_bit_config(render(pipeline(agent={"inputs": {"paths": paths}})))
    assert plugin(config["pipeline"]["inputs"], "tail")["path"].split(",") == paths


def test_multiline_filter_lists_the_chosen_parsers() -> None:
    config = fluent_bit_config(render(example()))
    filters = config["pipeline"]["filters"]
    assert plugin(filters, "multiline")["multiline.parser"] == "java, python, go"

    subset = pipeline(agent={"multiline": {"parsers": ["python", "go", "python"]}})
    filters = fluent_bit_config(render(subset))["pipeline"]["filters"]
    assert plugin(filters, "multiline")["multiline.parser"] == "python, go"


def test_disabled_multiline_drops_the_filter() -> None:
    config = fluent_bit_config(render(pipeline(agent={"multiline": {"enabled": False}})))
    assert [entry["name"] for entry in config["pipeline"]["filters"]] == ["kubernetes", "lua"]


def test_enabled_multiline_without_parsers_is_refused() -> None:
    with pytest.raises(PipelineRenderError) as error:
        render(pipeline(agent={"multiline": {"parsers": []}}))
    assert error.value.field == "spec.agent.multiline.parsers"


def test_memory_buffers_are_a_fraction_of_the_memory_limit() -> None:
    config = fluent_bit_config(render(example()))  # limit 256Mi: 20% is 53.7 MB
    assert plugin(config["pipeline"]["inputs"], "tail")["mem_buf_limit"] == "53M"
    multiline = plugin(config["pipeline"]["filters"], "multiline")
    assert multiline["emitter_mem_buf_limit"] == "53M"
    unlimited = fluent_bit_config(render(pipeline()))
    assert plugin(unlimited["pipeline"]["inputs"], "tail")["mem_buf_limit"] == "50M"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"agent": {"resources": {"limits": {"memory": "32Mi"}}}},
            "spec.agent.resources.limits.memory",
        ),
        ({"buffer": {"totalLimitSize": "16Mi"}}, "spec.buffer.totalLimitSize"),
        ({"processors": {"maxRecordSize": "512"}}, "spec.processors.maxRecordSize"),
        ({"kafka": {"topic": "t" * 240}}, "spec.kafka.topic"),
    ],
)
def test_undeployable_settings_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(PipelineRenderError) as error:
        render(pipeline(**spec))
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")


def test_parsers_and_lua_are_copied_verbatim() -> None:
    data = find(render(pipeline()), "ConfigMap", "logs-fluent-bit")["data"]
    assert set(data) == {"fluent-bit.yaml", "parsers.yaml", "kafka_key.lua"}
    for name in ("parsers.yaml", "kafka_key.lua"):
        assert data[name] == (REPOSITORY / "fluent-bit" / name).read_text(encoding="utf-8")


def test_storage_path_is_the_one_given() -> None:
    files = fluent_bit_files(pipeline().spec, storage_path="/data/buffer/")
    config = yaml.safe_load(files["fluent-bit.yaml"])
    assert config["service"]["storage.path"] == "/data/buffer/buffer"
    assert plugin(config["pipeline"]["inputs"], "tail")["db"] == "/data/buffer/tail.db"


# --- TLS / SASL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kafka", "protocol"),
    [
        ({"tls": {"secretRef": {"name": "kafka-tls"}}}, "SSL"),
        (
            {"sasl": {"mechanism": "PLAIN", "secretRef": {"name": "kafka-credentials"}}},
            "SASL_PLAINTEXT",
        ),
        (SECURE["kafka"], "SASL_SSL"),
    ],
)
def test_security_protocol(kafka: dict[str, Any], protocol: str) -> None:
    objects = render(pipeline(kafka=kafka))
    assert kafka_output(fluent_bit_config(objects))["rdkafka.security.protocol"] == protocol
    security = json.loads(
        processor_environment(pipeline(kafka=kafka))["LOGSENTINEL_KAFKA_SECURITY"]
    )
    assert security["security.protocol"] == protocol


def test_tls_and_sasl_settings_point_at_mounted_files_and_env() -> None:
    objects = render(pipeline(**SECURE))
    kafka = kafka_output(fluent_bit_config(objects))
    assert kafka["rdkafka.ssl.ca.location"] == f"{TLS_DIRECTORY}/ca.crt"
    assert "rdkafka.ssl.certificate.location" not in kafka
    assert kafka["rdkafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert kafka["rdkafka.sasl.username"] == "${KAFKA_SASL_USERNAME}"
    assert kafka["rdkafka.sasl.password"] == "${KAFKA_SASL_PASSWORD}"

    daemon_set = find(objects, "DaemonSet")
    assert {"name": "kafka-tls", "secret": {"secretName": "kafka-tls"}} in pod_spec(daemon_set)[
        "volumes"
    ]
    mount = plugin(container(daemon_set)["volumeMounts"], "kafka-tls")
    assert mount["mountPath"] == TLS_DIRECTORY
    assert mount["readOnly"] is True
    env = {entry["name"]: entry for entry in container(daemon_set)["env"]}
    assert env["KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-credentials",
        "key": "username",
    }
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-credentials",
        "key": "password",
    }


def test_client_certificate_when_the_secret_has_one() -> None:
    objects = render(pipeline(**SECURE), client_certificate=True)
    kafka = kafka_output(fluent_bit_config(objects))
    assert kafka["rdkafka.ssl.certificate.location"] == f"{TLS_DIRECTORY}/tls.crt"
    assert kafka["rdkafka.ssl.key.location"] == f"{TLS_DIRECTORY}/tls.key"
    environment = deployment_environment(
        find(objects, "Deployment"), secrets=SECRETS, fields={"metadata.name": "p-0"}
    )
    security = json.loads(environment["LOGSENTINEL_KAFKA_SECURITY"])
    assert security["ssl.certificate.location"] == f"{TLS_DIRECTORY}/tls.crt"


def test_no_secret_value_in_rendered_objects() -> None:
    objects = render(pipeline(**SECURE))
    credential_env = {"LOGSENTINEL_DATABASE_URL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
    seen = set()
    for workload in (find(objects, "DaemonSet"), find(objects, "Deployment")):
        for entry in container(workload).get("env", []):
            if entry["name"] in credential_env:
                assert "value" not in entry
                assert "secretKeyRef" in entry["valueFrom"]
                seen.add(entry["name"])
    assert seen == credential_env
    security = processor_environment(pipeline(**SECURE))["LOGSENTINEL_KAFKA_SECURITY"]
    assert json.loads(security)["sasl.password"] == "$(KAFKA_SASL_PASSWORD)"
    # Resolving the environment puts the secrets there, and only there.
    environment = deployment_environment(
        find(objects, "Deployment"), secrets=SECRETS, fields={"metadata.name": "p-0"}
    )
    assert json.loads(environment["LOGSENTINEL_KAFKA_SECURITY"])["sasl.password"] == SASL_PASSWORD
    text = json.dumps(objects)
    for secret in SECRETS.values():
        assert secret not in text


# --- objects, labels, owners ----------------------------------------------------------------------


def test_objects_in_apply_order() -> None:
    objects = render(example())
    assert [(item["kind"], item["metadata"]["name"]) for item in objects] == [
        ("ConfigMap", "cluster-logs-fluent-bit"),
        ("ServiceAccount", "cluster-logs-fluent-bit"),
        ("ClusterRole", "logsentinel-logsentinel-system-cluster-logs-fluent-bit"),
        ("ClusterRoleBinding", "logsentinel-logsentinel-system-cluster-logs-fluent-bit"),
        ("DaemonSet", "cluster-logs-fluent-bit"),
        ("ServiceAccount", "cluster-logs-processor"),
        ("ClusterRole", "logsentinel-logsentinel-system-cluster-logs-processor"),
        ("ClusterRoleBinding", "logsentinel-logsentinel-system-cluster-logs-processor"),
        ("ConfigMap", "cluster-logs-processor-parsers"),
        ("Deployment", "cluster-logs-processor"),
        ("Service", "cluster-logs-processor-metrics"),
    ]


def test_every_object_is_labelled_and_owned() -> None:
    objects = render(example())
    for item in objects:
        metadata = item["metadata"]
        labels = metadata["labels"]
        assert labels.items() >= LABELS.items(), item["kind"]
        assert labels["logsentinel.io/pipeline"] == "cluster-logs"
        assert labels["app.kubernetes.io/component"] in ("collector", "processor")
        if item["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in metadata
            assert "ownerReferences" not in metadata
            continue
        assert metadata["namespace"] == "logsentinel-system"
        assert metadata["ownerReferences"] == [
            {
                "apiVersion": "logsentinel.io/v1alpha1",
                "kind": "LogPipeline",
                "name": "cluster-logs",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    components = {
        item["metadata"]["name"]: item["metadata"]["labels"]["app.kubernetes.io/component"]
        for item in objects
    }
    assert components["cluster-logs-fluent-bit"] == "collector"
    assert components["cluster-logs-processor"] == "processor"


def test_without_uid_no_owner_references() -> None:
    objects = render(pipeline(uid=None))
    assert all("ownerReferences" not in item["metadata"] for item in objects)


def test_namespace_falls_back_to_the_operators() -> None:
    document = pipeline().model_dump(mode="json", by_alias=True, exclude_none=True)
    del document["metadata"]["namespace"]
    bare = LogPipeline.from_manifest(document)
    objects = render(bare, operator_namespace="logsentinel-system")
    assert find(objects, "DaemonSet")["metadata"]["namespace"] == "logsentinel-system"
    binding = find(objects, "ClusterRoleBinding", "logsentinel-logsentinel-system-logs-processor")
    assert binding["subjects"][0]["namespace"] == "logsentinel-system"
    with pytest.raises(PipelineRenderError) as error:
        render(bare)
    assert error.value.field == "metadata.namespace"


@pytest.mark.parametrize("name", ["a" * 46, "logs.v2", "9logs"])
def test_names_that_cannot_name_the_service_are_refused(name: str) -> None:
    document = pipeline().model_dump(mode="json", by_alias=True, exclude_none=True)
    document["metadata"]["name"] = name
    with pytest.raises(PipelineRenderError) as error:
        render(LogPipeline.from_manifest(document))
    assert error.value.field == "metadata.name"


def test_selectors_match_pod_labels() -> None:
    objects = render(example())
    for kind in ("DaemonSet", "Deployment"):
        workload = find(objects, kind)
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    service = find(objects, "Service")
    pods = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pods.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9108, "targetPort": "metrics", "protocol": "TCP"}
    ]
    collector_pods = find(objects, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= collector_pods.items()


# --- DaemonSet -----------------------------------------------------------------------------------


def test_daemon_set_with_host_path_buffer() -> None:
    objects = render(example())
    daemon_set = find(objects, "DaemonSet")
    spec = pod_spec(daemon_set)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["buffer"]["hostPath"] == {
        "path": "/var/lib/logsentinel/fluent-bit",
        "type": "DirectoryOrCreate",
    }
    assert volumes["config"]["configMap"]["name"] == "cluster-logs-fluent-bit"
    assert volumes["varlog"]["hostPath"]["path"] == "/var/log"
    mounts = {mount["name"]: mount for mount in container(daemon_set)["volumeMounts"]}
    assert mounts["varlog"] == {"name": "varlog", "mountPath": "/var/log", "readOnly": True}
    assert mounts["buffer"]["mountPath"] == "/var/lib/logsentinel/fluent-bit"
    assert mounts["config"]["mountPath"] == "/fluent-bit/etc"
    assert container(daemon_set)["args"] == ["-c", "/fluent-bit/etc/fluent-bit.yaml"]
    assert spec["serviceAccountName"] == "cluster-logs-fluent-bit"
    assert daemon_set["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1},
    }
    grace = fluent_bit_config(objects)["service"]["grace"]
    assert spec["terminationGracePeriodSeconds"] > grace


def test_daemon_set_with_ephemeral_buffer() -> None:
    buffer = {
        "type": "ephemeral",
        "totalLimitSize": "3Gi",
        "ephemeral": {"size": "4Gi", "storageClassName": "fast-local"},
    }
    objects = render(pipeline(buffer=buffer))
    daemon_set = find(objects, "DaemonSet")
    (volume,) = [v for v in pod_spec(daemon_set)["volumes"] if v["name"] == "buffer"]
    assert "hostPath" not in volume
    claim = volume["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "4Gi"}},
        "storageClassName": "fast-local",
    }
    mount = plugin(container(daemon_set)["volumeMounts"], "buffer")
    assert mount["mountPath"] == EPHEMERAL_BUFFER_PATH
    config = fluent_bit_config(objects)
    assert config["service"]["storage.path"] == f"{EPHEMERAL_BUFFER_PATH}/buffer"
    assert kafka_output(config)["storage.total_limit_size"] == 3 * 2**30


def test_ephemeral_buffer_without_storage_class_uses_the_default() -> None:
    buffer = {"type": "ephemeral", "totalLimitSize": "1Gi", "ephemeral": {"size": "2Gi"}}
    daemon_set = find(render(pipeline(buffer=buffer)), "DaemonSet")
    (volume,) = [v for v in pod_spec(daemon_set)["volumes"] if v["name"] == "buffer"]
    assert "storageClassName" not in volume["ephemeral"]["volumeClaimTemplate"]["spec"]


def test_daemon_set_node_selector_is_passed_through_and_absent_by_default() -> None:
    selector = {"kubernetes.io/os": "linux", "logs": "collect"}
    daemon_set = find(render(pipeline(agent={"nodeSelector": selector})), "DaemonSet")
    assert pod_spec(daemon_set)["nodeSelector"] == selector
    assert "nodeSelector" not in pod_spec(find(render(pipeline()), "DaemonSet"))


def test_daemon_set_passes_image_resources_and_tolerations_through() -> None:
    tolerations = [
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "logs",
            "effect": "NoExecute",
            "tolerationSeconds": 60,
        },
        {"operator": "Exists", "effect": "NoSchedule"},
    ]
    resources = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    spec: dict[str, Any] = {
        "agent": {
            "image": "fluent/fluent-bit:3.2.9",
            "tolerations": tolerations,
            "resources": resources,
        }
    }
    daemon_set = find(render(pipeline(**spec)), "DaemonSet")
    assert pod_spec(daemon_set)["tolerations"] == tolerations
    assert container(daemon_set)["resources"] == resources
    assert container(daemon_set)["image"] == "fluent/fluent-bit:3.2.9"
    assert container(find(render(pipeline()), "DaemonSet"))["resources"] == {}


def test_daemon_set_health_probe() -> None:
    fluent_bit = container(find(render(pipeline()), "DaemonSet"))
    for probe in ("livenessProbe", "readinessProbe"):
        assert fluent_bit[probe]["httpGet"] == {"path": "/api/v1/health", "port": 2020}
    assert {"name": "http", "containerPort": 2020, "protocol": "TCP"} in fluent_bit["ports"]
    config = fluent_bit_config(render(pipeline()))
    assert config["service"]["http_port"] == 2020
    assert config["service"]["health_check"] is True


def test_config_hash_follows_the_fluent_bit_configuration_only() -> None:
    objects = render(pipeline())
    daemon_set = find(objects, "DaemonSet")
    assert config_hash(daemon_set) == content_hash(
        find(objects, "ConfigMap", "logs-fluent-bit")["data"]
    )
    assert len(config_hash(daemon_set)) == 16
    slower = find(render(pipeline(agent={"flushInterval": "5s"})), "DaemonSet")
    assert config_hash(slower) != config_hash(daemon_set)
    unrelated = pipeline(
        processors={"replicas": 5},
        agent={"tolerations": [{"operator": "Exists"}]},
    )
    assert config_hash(find(render(unrelated), "DaemonSet")) == config_hash(daemon_set)
    assert config_hash(find(render(pipeline(uid="other")), "DaemonSet")) == config_hash(daemon_set)


# --- processors ----------------------------------------------------------------------------------


def test_processor_deployment() -> None:
    objects = render(example())
    deployment = find(objects, "Deployment")
    processor = container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert processor["image"] == "ghcr.io/log-sentinel/log-sentinel:0.1.0"
    assert processor["command"] == ["logsentinel", "processor"]
    assert processor["resources"] == {
        "requests": {"cpu": "500m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert processor["ports"] == [{"name": "metrics", "containerPort": 9108, "protocol": "TCP"}]
    assert processor["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert pod_spec(deployment)["serviceAccountName"] == "cluster-logs-processor"


def test_processor_environment_keys() -> None:
    environment = processor_environment(example())
    assert environment == {
        "LOGSENTINEL_KAFKA_BOOTSTRAP": "kafka.logsentinel-system.svc:9092",
        "LOGSENTINEL_KAFKA_TOPIC": "logsentinel-logs",
        "LOGSENTINEL_KAFKA_GROUP": "logsentinel-cluster-logs",
        "LOGSENTINEL_DEAD_LETTER_TOPIC": "logsentinel-logs-dead-letters",
        "LOGSENTINEL_KUBERNETES": "true",
        "LOGSENTINEL_RULES_NAMESPACE": "",
        "LOGSENTINEL_CENTRAL_NAMESPACE": "logsentinel-system",
        "LOGSENTINEL_MAX_RECORD_BYTES": str(256 * 1024),
        "LOGSENTINEL_METRICS_PORT": "9108",
        "LOGSENTINEL_CUSTOM_PARSERS_FILE": "/etc/logsentinel/parsers/parsers.yaml",
    }
    without_parsers = processor_environment(pipeline(processors={"maxRecordSize": "1Mi"}))
    assert "LOGSENTINEL_CUSTOM_PARSERS_FILE" not in without_parsers
    assert "LOGSENTINEL_KAFKA_SECURITY" not in without_parsers
    assert without_parsers["LOGSENTINEL_MAX_RECORD_BYTES"] == str(2**20)


def test_processors_get_the_operators_central_namespace() -> None:
    """Only rules in the operator's central namespace may watch others: the processors must
    know which namespace that is, also when the operator is not using the default."""
    deployment = find(render(example(), central_namespace="observability"), "Deployment")
    env = {entry["name"]: entry.get("value") for entry in container(deployment)["env"]}
    assert env["LOGSENTINEL_CENTRAL_NAMESPACE"] == "observability"


def test_deployment_env_is_plain_environment_plus_secret_and_pod_name() -> None:
    deployment = find(render(example()), "Deployment")
    env = container(deployment)["env"]
    plain = {entry["name"]: entry["value"] for entry in env if "value" in entry}
    assert plain == processor_environment(example())
    by_name = {entry["name"]: entry for entry in env}
    assert by_name["LOGSENTINEL_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "logsentinel-database",
        "key": "url",
    }
    assert (
        by_name["LOGSENTINEL_CONSUMER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    )


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("LOGSENTINEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize("secure", [False, True], ids=["plaintext", "tls-sasl"])
def test_processor_settings_accept_the_rendered_environment(
    clean_environment: pytest.MonkeyPatch, secure: bool
) -> None:
    source = pipeline(**SECURE) if secure else example()
    deployment = find(render(source), "Deployment")
    secrets = SECRETS | {("logsentinel-database", "url"): DATABASE_URL}
    environment = deployment_environment(
        deployment, secrets=secrets, fields={"metadata.name": "logs-processor-abc12"}
    )
    for name, value in environment.items():
        clean_environment.setenv(name, value)
    settings = ProcessorSettings()
    assert settings.database_url == DATABASE_URL
    assert settings.consumer_id == "logs-processor-abc12"
    assert settings.kubernetes is True
    assert settings.metrics_port == 9108
    assert settings.max_record_bytes == 256 * 1024
    assert settings.dead_letter_topic == f"{settings.kafka_topic}-dead-letters"
    assert settings.rules_namespace == ""
    if secure:
        assert settings.kafka_group == "logsentinel-logs"
        assert settings.kafka_bootstrap == "kafka-0.kafka:9092,kafka-1.kafka:9092"
        assert settings.kafka_security == {
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": f"{TLS_DIRECTORY}/ca.crt",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": SASL_USERNAME,
            "sasl.password": SASL_PASSWORD,
        }
        assert settings.custom_parsers_file is None
    else:
        assert settings.kafka_group == "logsentinel-cluster-logs"
        assert settings.kafka_security == {}
        assert settings.custom_parsers_file == Path("/etc/logsentinel/parsers/parsers.yaml")


def test_deployment_environment_expands_like_the_kubelet() -> None:
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "processor",
                            "env": [
                                {
                                    "name": "A",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                                },
                                {"name": "B", "value": "x$(A)y $$(A) $(MISSING)"},
                            ],
                        }
                    ]
                }
            }
        }
    }
    assert deployment_environment(deployment, secrets={("s", "k"): "v"}) == {
        "A": "v",
        "B": "xvy $(A) $(MISSING)",
    }
    with pytest.raises(KeyError, match="Secret s key k"):
        deployment_environment(deployment, secrets={})


def test_custom_parsers_config_map_is_what_the_processor_loads(tmp_path: Path) -> None:
    source = example()
    objects = render(source)
    parsers = find(objects, "ConfigMap", "cluster-logs-processor-parsers")
    deployment = find(objects, "Deployment")
    assert {"name": "parsers", "configMap": {"name": "cluster-logs-processor-parsers"}} in pod_spec(
        deployment
    )["volumes"]
    mount = plugin(container(deployment)["volumeMounts"], "parsers")
    file = Path(processor_environment(source)["LOGSENTINEL_CUSTOM_PARSERS_FILE"])
    assert file.parent == Path(mount["mountPath"])
    (tmp_path / file.name).write_text(parsers["data"][file.name])
    settings = ProcessorSettings(
        database_url="postgresql://x",
        kafka_bootstrap="k:9092",
        custom_parsers_file=tmp_path / file.name,
    )
    loaded = custom_parsers(settings)
    assert loaded == source.spec.processors.custom_parsers
    assert loaded == [
        CustomParser(
            name="payments",
            regex=r"^(?P<time>\S+) \[(?P<level>\w+)\] txn=(?P<txn>\w+) (?P<message>.*)$",
            services=["payment-worker"],
        )
    ]


def test_no_custom_parsers_no_config_map_and_no_parsers_volume() -> None:
    objects = render(pipeline())
    assert [item for item in objects if item["metadata"]["name"] == "logs-processor-parsers"] == []
    assert [v["name"] for v in pod_spec(find(objects, "Deployment"))["volumes"]] == ["tmp"]


def test_processors_run_unprivileged_on_a_read_only_root_filesystem() -> None:
    spec = pod_spec(find(render(pipeline()), "Deployment"))
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (processor,) = spec["containers"]
    assert processor["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in processor["volumeMounts"]


def test_processor_restarts_when_custom_parsers_change() -> None:
    parser = {"name": "p", "regex": "(?P<a>x)"}
    first = find(render(pipeline(processors={"customParsers": [parser]})), "Deployment")
    changed = {**parser, "regex": "(?P<a>y)"}
    second = find(render(pipeline(processors={"customParsers": [changed]})), "Deployment")
    same = find(
        render(pipeline(processors={"customParsers": [parser], "replicas": 3})), "Deployment"
    )
    assert config_hash(first) != config_hash(second)
    assert config_hash(first) == config_hash(same)


# --- RBAC ----------------------------------------------------------------------------------------


def grants(cluster_role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_collector_rbac_is_read_only_pods_and_namespaces() -> None:
    objects = render(pipeline())
    role = find(objects, "ClusterRole", f"logsentinel-{NAMESPACE}-logs-fluent-bit")
    assert grants(role) == {
        ("", resource, verb)
        for resource in ("pods", "namespaces")
        for verb in ("get", "list", "watch")
    }
    binding = find(objects, "ClusterRoleBinding", f"logsentinel-{NAMESPACE}-logs-fluent-bit")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "logs-fluent-bit", "namespace": NAMESPACE}
    ]
    find(objects, "ServiceAccount", "logs-fluent-bit")


def test_processor_rbac_covers_what_the_adapters_call() -> None:
    objects = render(pipeline())
    role = find(objects, "ClusterRole", f"logsentinel-{NAMESPACE}-logs-processor")
    needed = {
        # kube/rules.py: list and watch DetectionRules
        ("logsentinel.io", "detectionrules", "list"),
        ("logsentinel.io", "detectionrules", "watch"),
        # kube/incident_objects.py: create/get/patch Incidents, patch their status and the rules' status
        ("logsentinel.io", "detectionrules", "get"),
        ("logsentinel.io", "detectionrules/status", "patch"),
        ("logsentinel.io", "incidents", "create"),
        ("logsentinel.io", "incidents", "get"),
        ("logsentinel.io", "incidents", "patch"),
        ("logsentinel.io", "incidents/status", "patch"),
        # kube/owners.py: read pods and replica sets
        ("", "pods", "get"),
        ("apps", "replicasets", "get"),
    }
    granted = grants(role)
    assert needed <= granted
    assert not {verb for _, _, verb in granted} & {"delete", "deletecollection", "update", "*"}
    assert not {(g, r) for g, r, v in granted if v != "get"} & {
        ("", "pods"),
        ("apps", "replicasets"),
    }
    binding = find(objects, "ClusterRoleBinding", f"logsentinel-{NAMESPACE}-logs-processor")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "logs-processor", "namespace": NAMESPACE}
    ]


# --- templates -----------------------------------------------------------------------------------


def test_templates_found_in_the_repository() -> None:
    directory = fluentbit_files.template_directory()
    for name in ("fluent-bit.yaml", "parsers.yaml", "kafka_key.lua"):
        assert (directory / name).is_file()


def test_missing_templates_name_both_places(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fluentbit_files, "files", lambda _package: tmp_path / "package")
    monkeypatch.setattr(fluentbit_files, "REPOSITORY_DIRECTORY", tmp_path / "repository")
    fluentbit_files.template_directory.cache_clear()
    try:
        with pytest.raises(fluentbit_files.TemplatesNotFoundError) as error:
            fluentbit_files.template_directory()
        assert str(tmp_path / "package" / "fluent-bit") in str(error.value)
        assert str(tmp_path / "repository") in str(error.value)
    finally:
        fluentbit_files.template_directory.cache_clear()


def test_packaged_templates_win_over_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    packaged = tmp_path / "package" / "fluent-bit"
    packaged.mkdir(parents=True)
    (packaged / "fluent-bit.yaml").write_text("service: {}\n")
    monkeypatch.setattr(fluentbit_files, "files", lambda _package: tmp_path / "package")
    fluentbit_files.template_directory.cache_clear()
    try:
        assert fluentbit_files.read_template("fluent-bit.yaml") == "service: {}\n"
    finally:
        fluentbit_files.template_directory.cache_clear()
