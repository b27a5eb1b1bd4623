"""The start of the remediation flow on the local stack, shared by the e2e tests and the
dashboard's browser test: a processor in Kubernetes mode (rules from the apiserver), and a bad
rollout (v1 -> v2, v2 logs errors through Kafka) that makes it open an Incident whose target is
the Deployment, with a playbook of the chosen mode waiting for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from logsentinel.processors.main import build
from support.kafka import container_line, create_topic, produce
from support.operator import V1, V2, Cluster
from support.running import Running, eventually, processor_settings

APP = "checkout"


@contextmanager
def kube_processor(
    cluster: Cluster, kafka_bootstrap: str, kafka_topic: str, kube_config: str
) -> Iterator[Running]:
    """A processor reading rules from the cluster's namespace, heartbeating every second."""
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    settings = processor_settings(
        cluster.database_url,
        kafka_bootstrap,
        kafka_topic,
        kubernetes=True,
        kubeconfig=kube_config,
        rules_namespace=cluster.namespace,
        heartbeat_interval=timedelta(seconds=1),
    )
    running = Running(build(settings))
    try:
        yield running
    finally:
        running.stop()


def rule(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": "checkout-errors", "namespace": namespace},
        "spec": {
            "selector": {"namespaces": [namespace], "services": [APP]},
            "match": {"levels": ["error"]},
            "detector": {"type": "threshold", "threshold": {"count": 10, "window": "5s"}},
            "severity": "high",
            "incidentType": "ErrorBurst",
            "autoResolveAfter": "10m",  # the operator, not the quiet period, resolves it here
        },
    }


def v2_pod(cluster: Cluster) -> str:
    pods = cluster.get("pods", "-l", f"app={APP}")["items"]
    running = [
        p["metadata"]["name"]
        for p in pods
        if p["spec"]["containers"][0]["image"] == V2 and p["status"].get("phase") == "Running"
    ]
    assert running, "a v2 pod is running"
    return running[0]


def bad_rollout_opens_an_incident(
    cluster: Cluster, processor: Running, kafka_bootstrap: str, kafka_topic: str, mode: str
) -> str:
    """v1 -> v2, v2 logs errors past the rule's threshold: the incident the processor opened."""
    cluster.deploy(APP, image=V1, replicas=2)
    cluster.set_image(APP, V2)
    cluster.apply(rule(cluster.namespace))
    cluster.playbook(
        "rollback-bad-release",
        mode,
        [{"type": "rollback"}, {"type": "verify"}],
        triggers={"rules": ["checkout-errors"]},
        verification={"window": "90s", "rolloutTimeout": "60s"},
    )
    stage: Any = processor.processor.stages[0]
    eventually("the rule reaches the processor", lambda: stage.engine.rules, 15)
    cluster.start_operator()

    pod = v2_pod(cluster)
    lines = [
        container_line(
            cluster.namespace, pod, APP, f"payment {n} failed: NullPointerException", "error"
        )
        for n in range(12)
    ]
    produce(
        kafka_bootstrap,
        kafka_topic,
        [(f"{cluster.namespace}/{APP}".encode(), line) for line in lines],
    )

    incidents: list[dict[str, Any]] = []

    def opened() -> bool:
        incidents[:] = cluster.get("incidents")["items"]
        return bool(incidents)

    eventually("the processor opens an incident", opened, 30)
    name = incidents[0]["metadata"]["name"]
    assert incidents[0]["spec"]["target"] == {
        "kind": "Deployment",
        "namespace": cluster.namespace,
        "name": APP,
    }
    return str(name)


__all__ = ["APP", "V1", "V2", "bad_rollout_opens_an_incident", "kube_processor", "rule", "v2_pod"]
