"""The product in real pods on the local stack's real node (containerd + kubelet): the image
migrates a database, the operator runs from the Helm chart and reconciles the examples,
two processors rendered from a LogPipeline share a topic's partitions and store its logs in
PostgreSQL, a detection rule fires an Incident, and a volume claim binds through the node's provisioner.

Pods reach the host's servers through the node's bridge gateway (``pod_database_url``,
``pod_kafka_bootstrap``). The Fluent Bit collectors' image cannot be pulled here, so the
pipeline places them on the kwok Nodes and these tests produce the collectors' records."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
import yaml
from confluent_kafka.admin import AdminClient

from devstack.kube import KWOK_NODE_SELECTOR, KWOK_TOLERATION, REAL_NODE
from devstack.pytest_plugin import Kubectl
from logsentinel.storage.urls import libpq_url
from support.kafka import container_line, produce
from support.node import (
    POD_TIMEOUT,
    condition,
    example,
    is_ready,
    pod_logs,
    release_pods,
)
from support.operator import get_json
from support.running import eventually

pytestmark = pytest.mark.node


def apply(kubectl: Kubectl, document: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps(document))


def pod_phase(kubectl: Kubectl, namespace: str, name: str) -> str:
    return str(get_json(kubectl, "pod", name, "-n", namespace).get("status", {}).get("phase"))


def run_pod(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]] | None = None,
) -> str:
    """Run a one-shot pod to completion (the namespace places it on the real node); its
    output. Fails with the pod's logs when it does not succeed."""
    apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", **container}],
                "volumes": volumes or [],
            },
        },
    )
    eventually(
        f"pod {name} finished",
        lambda: pod_phase(kubectl, namespace, name) in {"Succeeded", "Failed"},
        POD_TIMEOUT,
    )
    output = pod_logs(kubectl, namespace, name)
    pod = get_json(kubectl, "pod", name, "-n", namespace)
    assert pod["status"]["phase"] == "Succeeded", f"pod {name} failed:\n{output}"
    assert pod["spec"]["nodeName"] == REAL_NODE
    return output


def test_the_image_runs_the_cli_as_a_non_root_user_and_migrates_a_database(
    kubectl: Kubectl,
    node_namespace: str,
    logsentinel_image: str,
    database_url: str,
    pod_database_url: str,
) -> None:
    image = {"image": logsentinel_image}
    version = run_pod(kubectl, node_namespace, "version", {**image, "args": ["--version"]})
    assert version.strip().startswith("logsentinel, version ")
    user = run_pod(kubectl, node_namespace, "user", {**image, "command": ["id", "-u"]})
    assert user.strip() != "0", "the image runs as a non-root user"

    database = [{"name": "LOGSENTINEL_DATABASE_URL", "value": pod_database_url}]
    run_pod(kubectl, node_namespace, "migrate", {**image, "args": ["migrate"], "env": database})
    with psycopg.connect(libpq_url(database_url)) as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    assert revision is not None, "the pod recorded the schema revision"
    assert {"logs", "audit_log"} <= tables


def log_count(database_url: str, namespace: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM logs WHERE namespace = %s", (namespace,)
        ).fetchone()
    return int(row[0]) if row else 0


def group_assignment(bootstrap: str, group: str) -> list[set[int]]:
    """The partitions each member of a consumer group owns (one set per member)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return [
        {part.partition for part in member.assignment.topic_partitions}
        for member in description.members
    ]


def stored_per_partition(database_url: str, group: str) -> dict[int, int]:
    """The next offset the processors recorded for each partition, with the records' batch."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = %s",
            (group,),
        ).fetchall()
    return {int(partition): int(offset) for partition, offset in rows}


def test_the_operator_pod_deploys_processors_that_store_logs_and_fire_a_rule(
    kubectl: Kubectl,
    operator_pod: str,
    node_namespace: str,
    logsentinel_image: str,
    database_url: str,
    pod_database_url: str,
    pod_kafka_bootstrap: str,
    kafka_bootstrap: str,
    diagnostics: None,
) -> None:
    namespace = node_namespace
    pods = release_pods(kubectl, namespace, operator_pod)
    assert [p["spec"]["nodeName"] for p in pods] == [REAL_NODE]
    assert is_ready(pods[0])
    peerings = get_json(kubectl, "kopfpeerings", "-n", namespace)["items"]
    assert [p["metadata"]["name"] for p in peerings] == ["logsentinel"], "made by the operator"

    rule = example("rules/threshold-error-burst.yaml", namespace)
    apply(kubectl, rule)
    name = rule["metadata"]["name"]
    eventually(
        "the example rule Ready",
        lambda: condition(kubectl, namespace, "detectionrule", name, "Ready") == "True",
        60,
    )

    kubectl(
        "create",
        "secret",
        "generic",
        "database",
        "-n",
        namespace,
        f"--from-literal=url={pod_database_url}",
    )
    pipeline = example("logpipeline.yaml", namespace)
    topic = f"node-{uuid.uuid4().hex[:8]}"
    spec = pipeline["spec"]
    partitions = 4
    spec["kafka"] = {
        "bootstrapServers": [pod_kafka_bootstrap],
        "topic": topic,
        "partitions": partitions,
    }
    spec["processors"] = {
        **spec.get("processors", {}),
        "image": logsentinel_image,
        "replicas": 2,  # one consumer group: the two share the partitions
        "databaseSecretRef": {"name": "database", "key": "url"},
    }
    spec["agent"] = {
        **spec.get("agent", {}),
        "nodeSelector": KWOK_NODE_SELECTOR,
        "tolerations": [KWOK_TOLERATION],
    }
    apply(kubectl, pipeline)
    pipeline_name = pipeline["metadata"]["name"]
    eventually(
        "the pipeline Ready (processors Running on the real node)",
        lambda: condition(kubectl, namespace, "logpipeline", pipeline_name, "Ready") == "True",
        POD_TIMEOUT,
    )
    processors = get_json(
        kubectl, "pods", "-n", namespace, "-l", "app.kubernetes.io/component=processor"
    )["items"]
    assert len(processors) == 2
    assert {p["spec"]["nodeName"] for p in processors} == {REAL_NODE}
    assert {p["spec"]["containers"][0]["image"] for p in processors} == {logsentinel_image}
    group = f"logsentinel-{pipeline_name}"
    owned: list[set[int]] = []

    def shared() -> bool:
        owned[:] = group_assignment(kafka_bootstrap, group)
        return len(owned) == 2 and all(owned)

    eventually("both processors own partitions of the topic", shared, POD_TIMEOUT)
    assert set.union(*owned) == set(range(partitions))
    assert not set.intersection(*owned)

    errors = 60  # the example rule fires at 50 error lines within a minute
    lines = [
        (
            b"checkout",
            container_line(namespace, "shop-1", "checkout", f"payment {n} failed", "error"),
        )
        for n in range(errors)
    ]
    others = [f"service-{n}" for n in range(12)]  # keys that land on every partition
    lines += [
        (service.encode(), container_line(namespace, f"{service}-1", service, f"ok {n}", "info"))
        for n in range(10)
        for service in others
    ]
    assert produce(kafka_bootstrap, topic, lines) == len(lines)
    eventually(
        "the processors stored every record",
        lambda: log_count(database_url, namespace) == len(lines),
        POD_TIMEOUT,
    )
    stored = stored_per_partition(database_url, group)
    assert sum(stored.values()) == len(lines), "each record stored once, offsets recorded"
    written = {partition for partition, next_offset in stored.items() if next_offset}
    assert all(written & mine for mine in owned), f"partitions {stored}, owned {owned}"
    eventually(
        "the rule opened an Incident",
        lambda: bool(get_json(kubectl, "incidents", "-n", namespace)["items"]),
        POD_TIMEOUT,
    )
    incident = get_json(kubectl, "incidents", "-n", namespace)["items"][0]
    assert incident["spec"]["rule"] == name
    assert incident["spec"]["service"] == "checkout"


def test_the_agent_image_runs_the_collector_with_the_pipelines_components(
    kubectl: Kubectl, node_namespace: str, otelcol_image: str
) -> None:
    output = run_pod(
        kubectl, node_namespace, "agent", {"image": otelcol_image, "args": ["components"]}
    )
    listed = yaml.safe_load(output)
    names = {
        kind: {component["name"] for component in listed.get(kind) or []}
        for kind in ("receivers", "processors", "exporters", "extensions")
    }
    assert "file_log" in names["receivers"], output
    assert {"k8s_attributes", "resource"} <= names["processors"]
    assert "kafka" in names["exporters"]
    assert {"file_storage", "health_check"} <= names["extensions"]


def test_a_volume_claim_binds_on_the_node_and_keeps_a_pods_file(
    kubectl: Kubectl, node_namespace: str, logsentinel_image: str
) -> None:
    apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": node_namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Mi"}},
            },
        },
    )
    volume = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    container = {
        "image": logsentinel_image,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    marker = uuid.uuid4().hex
    write = ["python", "-c", f"open('/data/marker', 'w').write('{marker}')"]
    run_pod(kubectl, node_namespace, "writer", {**container, "command": write}, volume)
    read = ["cat", "/data/marker"]
    output = run_pod(kubectl, node_namespace, "reader", {**container, "command": read}, volume)
    assert output.strip() == marker, "a second pod reads what the first wrote"
    claim = get_json(kubectl, "pvc", "data", "-n", node_namespace)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "local-path"
