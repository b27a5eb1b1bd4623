"""End to end on the local stack: container log records produced to Kafka -> a processor in
Kubernetes mode (rules from DetectionRule objects) -> an Incident custom resource with evidence
and the Deployment that owns the logging pod as its target; the rule's status counts the firing,
and the incident resolves itself once the errors stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.pytest_plugin import Kubectl
from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from support.kafka import container_line, create_topic, produce
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = "checkout"


@pytest.fixture(scope="module")
def crds(kubectl: Kubectl) -> Kubectl:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    return kubectl


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    document = json.loads(kubectl("get", *args, "-o", "json").stdout)
    assert isinstance(document, dict)
    return document


def running_pod(kubectl: Kubectl, namespace: str) -> str:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": APP, "image": "registry.invalid/checkout:1"}]},
            },
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(deployment))
    found: list[str] = []

    def pod_running() -> bool:
        pods = get_json(kubectl, "pods", "-n", namespace, "-l", f"app={APP}")["items"]
        found[:] = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
        return bool(found)

    eventually("a running checkout pod", pod_running, 90)
    return found[0]


def rule(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": "checkout-errors", "namespace": namespace},
        "spec": {
            "description": "Error burst in checkout",
            "selector": {"namespaces": [namespace], "services": [APP]},
            "match": {"levels": ["error"]},
            "detector": {"type": "threshold", "threshold": {"count": 10, "window": "5s"}},
            "severity": "high",
            "incidentType": "ErrorBurst",
            "autoResolveAfter": "3s",
        },
    }


@pytest.fixture
def processor(
    database_url: str, kafka_bootstrap: str, kafka_topic: str, kube_config: str, kube_namespace: str
) -> Iterator[Running]:
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    settings = processor_settings(
        database_url,
        kafka_bootstrap,
        kafka_topic,
        kubernetes=True,
        kubeconfig=kube_config,
        rules_namespace=kube_namespace,
    )
    running = Running(build(settings))
    yield running
    running.stop()


def test_kafka_records_open_an_incident_resource_with_evidence_and_target(
    crds: Kubectl,
    kube_namespace: str,
    processor: Running,
    database_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
) -> None:
    pod = running_pod(crds, kube_namespace)
    crds("apply", "-f", "-", stdin=json.dumps(rule(kube_namespace)))
    stage: Any = processor.processor.stages[0]
    eventually("the rule reaches the processor", lambda: stage.engine.rules, 10)

    lines = [container_line(kube_namespace, pod, APP, "order ok", "info") for _ in range(5)]
    lines += [
        container_line(kube_namespace, pod, APP, f"payment {n} failed: gateway timeout", "error")
        for n in range(12)
    ]
    key = f"{kube_namespace}/{APP}".encode()
    produce(kafka_bootstrap, kafka_topic, [(key, line) for line in lines])

    incidents: list[dict[str, Any]] = []

    def incident_with_status() -> bool:
        # The status subresource is written right after the object is created.
        incidents[:] = get_json(crds, "incidents", "-n", kube_namespace)["items"]
        return bool(incidents) and "phase" in incidents[0].get("status", {})

    eventually("an Incident object with its status", incident_with_status, 30)
    assert len(incidents) == 1
    incident = incidents[0]
    spec = incident["spec"]
    assert spec["rule"] == "checkout-errors"
    assert spec["incidentType"] == "ErrorBurst"
    assert spec["severity"] == "high"
    assert spec["service"] == APP
    assert spec["target"] == {"kind": "Deployment", "namespace": kube_namespace, "name": APP}
    assert spec["occurrences"] == 1
    samples = spec["evidence"]["samples"]
    assert len(samples) == 10, "the ten errors that crossed the threshold"
    assert all("gateway timeout" in s["message"] and s["pod"] == pod for s in samples)
    assert spec["evidence"]["window"]["value"] == 10
    assert spec["evidence"]["templateIds"]
    assert spec["evidence"]["offsets"][0]["topic"] == kafka_topic
    assert incident["status"]["phase"] == "Open"
    assert incident["metadata"]["labels"]["logsentinel.io/rule"] == "checkout-errors"

    header, row = crds("get", "inc", "-n", kube_namespace).stdout.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "SEVERITY", "RULE", "TARGET", "PHASE", "COUNT"]
    assert row.split()[1:6] == ["high", "checkout-errors", APP, "Open", "1"]

    rule_status: dict[str, Any] = {}

    def rule_status_updated() -> bool:
        got = get_json(crds, "dr", "checkout-errors", "-n", kube_namespace).get("status", {})
        rule_status.update(got)
        return "firedCount" in got

    eventually("the rule status counts the firing", rule_status_updated, 10)
    assert rule_status["firedCount"] == 1
    assert rule_status.get("lastFiredAt")

    name = incident["metadata"]["name"]
    with psycopg.connect(libpq_url(database_url)) as connection:
        row_in_db = connection.execute(
            "SELECT namespace, target->>'name' FROM incidents WHERE name = %s", (name,)
        ).fetchone()
    assert row_in_db == (kube_namespace, APP), "the same incident is in PostgreSQL"

    # No more errors: the 5 s window empties, then 3 s of quiet resolve it.
    def resolved() -> bool:
        phase = get_json(crds, "incident", name, "-n", kube_namespace)["status"].get("phase")
        return phase == "Resolved"

    eventually("the incident resolves itself", resolved, 30)
    with psycopg.connect(libpq_url(database_url)) as connection:
        kinds = [
            kind
            for (kind,) in connection.execute(
                "SELECT kind FROM incident_events WHERE incident = %s ORDER BY id", (name,)
            )
        ]
    assert kinds == ["opened", "resolved"]
