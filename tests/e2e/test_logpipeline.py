"""LogPipeline on the local stack: the operator (a real process, ServiceAccount token bound only
to its ClusterRole) renders and owns the Fluent Bit DaemonSet, its ConfigMap and RBAC, the
processors Deployment, and the Kafka topic; spec changes roll out; deletion removes everything;
a processor started from the rendered Deployment's environment consumes the created topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import yaml
from confluent_kafka.admin import AdminClient

from devstack.kube import KWOK_LABEL_SELECTOR, KWOK_NODE_SELECTOR
from devstack.proc import free_port
from logsentinel.processors.main import build
from logsentinel.processors.settings import ProcessorSettings
from logsentinel.storage.urls import libpq_url
from support.kafka import container_line, produce
from support.operator import Cluster
from support.running import Running, eventually

pytestmark = pytest.mark.e2e

NAME = "logs"


def pipeline(cluster: Cluster, kafka_bootstrap: str, topic: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        # The collectors' image is not reachable here: they run on the kwok Nodes only.
        "agent": {
            "flushInterval": "1s",
            "tolerations": [{"operator": "Exists"}],
            "nodeSelector": KWOK_NODE_SELECTOR,
        },
        "buffer": {"type": "hostPath", "totalLimitSize": "512Mi"},
        "kafka": {"bootstrapServers": [kafka_bootstrap], "topic": topic, "partitions": 3},
        "processors": {
            "replicas": 1,
            "databaseSecretRef": {"name": "database", "key": "url"},
        },
    }
    for path, value in changes.items():
        section, _, key = path.partition("__")
        spec[section][key] = value
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "LogPipeline",
        "metadata": {"name": NAME, "namespace": cluster.namespace},
        "spec": spec,
    }


@pytest.fixture
def running(cluster: Cluster) -> Iterator[Cluster]:
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "database",
        "-n",
        cluster.namespace,
        f"--from-literal=url={cluster.database_url}",
    )
    cluster.start_operator()
    yield cluster
    cluster.kubectl(
        "delete", "logpipeline", "--all", "-n", cluster.namespace, "--timeout=60s", check=False
    )


def status_of(cluster: Cluster) -> dict[str, Any]:
    status: dict[str, Any] = cluster.get("logpipeline", NAME).get("status") or {}
    return status


def condition(cluster: Cluster, kind: str) -> dict[str, Any]:
    return next((c for c in status_of(cluster).get("conditions", []) if c["type"] == kind), {})


def topic_partitions(bootstrap: str, topic: str) -> int | None:
    found = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics.get(topic)
    return None if found is None or found.error is not None else len(found.partitions)


def test_a_pipeline_deploys_collectors_processors_and_its_topic(
    running: Cluster, kafka_bootstrap: str
) -> None:
    cluster = running
    topic = f"pipeline-{uuid.uuid4().hex[:8]}"
    cluster.apply(pipeline(cluster, kafka_bootstrap, topic))

    eventually(
        "the pipeline Ready", lambda: condition(cluster, "Ready").get("status") == "True", 90
    )
    status = status_of(cluster)
    kwok_nodes = sorted(
        name.removeprefix("node/")
        for name in cluster.kubectl(
            "get", "nodes", "-o", "name", "-l", KWOK_LABEL_SELECTOR
        ).stdout.split()
    )
    assert status["collectors"] == {"desired": len(kwok_nodes), "ready": len(kwok_nodes)}
    assert status["processors"] == {"desired": 1, "ready": 1}
    assert (
        status["observedGeneration"] == cluster.get("logpipeline", NAME)["metadata"]["generation"]
    )
    pods = cluster.get("pods", "-l", f"logsentinel.io/pipeline={NAME}")["items"]
    collectors = [
        p for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/component") == "collector"
    ]
    assert sorted(p["spec"]["nodeName"] for p in collectors) == kwok_nodes, (
        "one collector per selected node"
    )
    assert all(p["status"]["phase"] == "Running" for p in collectors)

    config = cluster.get("configmap", f"{NAME}-fluent-bit")["data"]
    document = yaml.safe_load(config["fluent-bit.yaml"])
    kafka_output = next(o for o in document["pipeline"]["outputs"] if o["name"] == "kafka")
    assert kafka_output["brokers"] == kafka_bootstrap
    assert kafka_output["topics"] == topic
    assert int(kafka_output["storage.total_limit_size"]) == 512 * 1024**2
    assert float(document["service"]["flush"]) == 1
    assert topic_partitions(kafka_bootstrap, topic) == 3, "the topic was created"

    # change the spec: flush interval, replicas, buffer type
    daemon_set = cluster.get("daemonset", f"{NAME}-fluent-bit")
    old_hash = daemon_set["spec"]["template"]["metadata"]["annotations"][
        "logsentinel.io/config-hash"
    ]
    changed = pipeline(cluster, kafka_bootstrap, topic)
    changed["spec"]["agent"]["flushInterval"] = "3s"
    changed["spec"]["processors"]["replicas"] = 2
    changed["spec"]["buffer"] = {
        "type": "ephemeral",
        "totalLimitSize": "256Mi",
        "ephemeral": {"size": "1Gi", "storageClassName": "standard"},
    }
    cluster.apply(changed)

    def rolled() -> bool:
        ds = cluster.get("daemonset", f"{NAME}-fluent-bit")
        deployment = cluster.get("deployment", f"{NAME}-processor")
        annotations = ds["spec"]["template"]["metadata"].get("annotations", {})
        volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
        return (
            annotations.get("logsentinel.io/config-hash") != old_hash
            and deployment["spec"]["replicas"] == 2
            and any("ephemeral" in v for v in volumes.values())
        )

    eventually("the owned objects follow the new spec", rolled, 30)
    flush = yaml.safe_load(
        cluster.get("configmap", f"{NAME}-fluent-bit")["data"]["fluent-bit.yaml"]
    )
    assert float(flush["service"]["flush"]) == 3

    # delete: everything it owned goes
    cluster.kubectl("delete", "logpipeline", NAME, "-n", cluster.namespace, "--timeout=60s")

    def gone() -> bool:
        left = cluster.kubectl(
            "get",
            "configmap,serviceaccount,service,daemonset,deployment",
            "-n",
            cluster.namespace,
            "-l",
            f"logsentinel.io/pipeline={NAME}",
            "-o",
            "name",
        ).stdout.split()
        cluster_scoped = [
            line
            for line in cluster.kubectl(
                "get",
                "clusterrole,clusterrolebinding",
                "-l",
                f"logsentinel.io/pipeline={NAME}",
                "-o",
                "name",
            ).stdout.split()
            if cluster.namespace in line
        ]
        return not left and not cluster_scoped

    eventually("everything the pipeline owned is gone", gone, 60)


def test_a_processor_from_the_rendered_environment_consumes_the_created_topic(
    running: Cluster, kafka_bootstrap: str
) -> None:
    cluster = running
    topic = f"pipeline-{uuid.uuid4().hex[:8]}"
    cluster.apply(pipeline(cluster, kafka_bootstrap, topic))
    eventually("the topic exists", lambda: topic_partitions(kafka_bootstrap, topic) == 3, 60)

    def rendered() -> bool:
        return bool(
            cluster.kubectl(
                "get", "deployment", f"{NAME}-processor", "-n", cluster.namespace, check=False
            ).stdout
        )

    eventually("the processors Deployment", rendered, 30)
    container = cluster.get("deployment", f"{NAME}-processor")["spec"]["template"]["spec"][
        "containers"
    ][0]
    environment: dict[str, str] = {}
    for variable in container["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        elif variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "database":
            environment[variable["name"]] = cluster.database_url
    assert environment["LOGSENTINEL_KAFKA_TOPIC"] == topic
    settings = ProcessorSettings.model_validate(
        {
            key.removeprefix("LOGSENTINEL_").lower(): value
            for key, value in environment.items()
            if key.startswith("LOGSENTINEL_")
        }
        | {"metrics_port": 0, "kubernetes": False, "batch_wait": timedelta(milliseconds=50)}
    )
    processor = Running(build(settings))
    try:
        lines = [
            container_line(cluster.namespace, "web-1", "web", f"request {n} served", "info")
            for n in range(20)
        ]
        produce(
            kafka_bootstrap, topic, [(f"{cluster.namespace}/web".encode(), line) for line in lines]
        )

        def stored() -> bool:
            with psycopg.connect(libpq_url(cluster.database_url)) as connection:
                row = connection.execute(
                    "SELECT count(*) FROM logs WHERE service = 'web'"
                ).fetchone()
            return bool(row and row[0] == 20)

        eventually("the 20 records stored", stored, 60)
    finally:
        processor.stop()


def test_broken_pipelines_are_refused_or_reported_with_the_field(
    cluster: Cluster, kafka_bootstrap: str
) -> None:
    cluster.start_operator()  # no database Secret
    topic = f"pipeline-{uuid.uuid4().hex[:8]}"
    cluster.apply(pipeline(cluster, kafka_bootstrap, topic))

    def degraded() -> bool:
        found = condition(cluster, "Degraded")
        return found.get("status") == "True" and found.get("reason") == "SecretMissing"

    eventually("Degraded: SecretMissing", degraded, 60)
    message = condition(cluster, "Degraded")["message"]
    assert "spec.processors.databaseSecretRef" in message
    assert "database" in message
    warnings = [e for e in cluster.events_for("LogPipeline", NAME) if e["type"] == "Warning"]
    assert any("databaseSecretRef" in e["message"] for e in warnings)

    refused = cluster.kubectl(
        "apply",
        "-f",
        "-",
        check=False,
        stdin=json.dumps(
            {
                "apiVersion": "logsentinel.io/v1alpha1",
                "kind": "LogPipeline",
                "metadata": {"name": "no-size", "namespace": cluster.namespace},
                "spec": {
                    "buffer": {"type": "ephemeral", "ephemeral": {}},
                    "kafka": {"bootstrapServers": [kafka_bootstrap]},
                    "processors": {"databaseSecretRef": {"name": "database", "key": "url"}},
                },
            }
        ),
    )
    assert refused.returncode != 0
    assert "size" in refused.stderr, "an ephemeral buffer without size is refused, naming it"

    long_name = "a" * 50  # <name>-processor-metrics would not be a valid Service name
    document = pipeline(cluster, kafka_bootstrap, topic)
    document["metadata"]["name"] = long_name
    cluster.apply(document)

    def invalid() -> bool:
        conditions = (cluster.get("logpipeline", long_name).get("status") or {}).get(
            "conditions", []
        )
        ready = next((c for c in conditions if c["type"] == "Ready"), {})
        return ready.get("reason") == "InvalidSpec" and "metadata.name" in ready.get("message", "")

    eventually("InvalidSpec naming metadata.name", invalid, 30)
    deployed = cluster.kubectl("get", "daemonset", "-n", cluster.namespace, "-o", "name").stdout
    assert long_name not in deployed, "nothing is deployed for an invalid pipeline"
    cluster.kubectl("delete", "logpipeline", long_name, "-n", cluster.namespace, "--timeout=60s")
    cluster.kubectl("delete", "logpipeline", NAME, "-n", cluster.namespace, "--timeout=60s")


def test_unreachable_kafka_is_reported_and_the_collectors_still_deploy(running: Cluster) -> None:
    cluster = running
    nowhere = f"127.0.0.1:{free_port()}"
    cluster.apply(pipeline(cluster, nowhere, "never-created"))

    def degraded() -> bool:
        found = condition(cluster, "Degraded")
        return found.get("status") == "True" and found.get("reason") == "KafkaUnreachable"

    eventually("Degraded: KafkaUnreachable", degraded, 60)
    assert nowhere in condition(cluster, "Degraded")["message"]
    assert "spec.kafka" in condition(cluster, "Degraded")["message"]
    # Fluent Bit buffers on disk until Kafka is back: the collectors are deployed anyway.
    assert cluster.get("daemonset", f"{NAME}-fluent-bit")["metadata"]["name"]
