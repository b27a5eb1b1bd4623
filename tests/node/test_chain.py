"""The whole chain with real pods: the sample app's stdout -> its log file on the node -> the
OpenTelemetry Collector agent (disk buffer) -> Kafka -> processors -> Incident -> the operator
rolls the Deployment back -> pods on v1 again -> verified on the same log signal -> Resolved.
And every line the app wrote is stored exactly once.

`make bench-chain` runs this test and prints its figures: chain_detect_s (first bad line
written -> Incident created), chain_resolve_s (Incident created -> Resolved), chain_lost and
chain_duplicated (lines written but not stored, stored twice)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from devstack.kube import REAL_NODE
from devstack.pytest_plugin import Kubectl
from support.chain import (
    APP,
    account_lines,
    apply,
    first_error_at,
    images_of,
    incident_times,
    one_record,
    pod_names,
    rule_and_playbook,
    sample_app,
    start_pipeline,
    stored_lines,
)
from support.operator import get_json
from support.running import eventually

pytestmark = pytest.mark.node

DETECT_TIMEOUT = 60
RESOLVE_TIMEOUT = 300


def test_a_bad_rollout_is_detected_from_real_pod_logs_rolled_back_and_verified(
    kubectl: Kubectl,
    operator_pod: str,
    node_namespace: str,
    logsentinel_image: str,
    otelcol_image: str,
    sample_app_images: list[str],
    database_url: str,
    pod_database_url: str,
    pod_kafka_bootstrap: str,
    node_figure: Callable[[str, float], None],
    diagnostics: None,
) -> None:
    namespace = node_namespace
    good, bad = sample_app_images
    start_pipeline(
        kubectl,
        namespace,
        eventually,
        database_url=pod_database_url,
        agent_image=otelcol_image,
        processor_image=logsentinel_image,
        kafka=pod_kafka_bootstrap,
    )
    rule, playbook = rule_and_playbook(namespace)
    apply(kubectl, rule)
    apply(kubectl, playbook)
    collectors = get_json(
        kubectl, "pods", "-n", namespace, "-l", "app.kubernetes.io/component=collector"
    )["items"]
    assert [(p["spec"]["nodeName"], p["spec"]["containers"][0]["image"]) for p in collectors] == [
        (REAL_NODE, otelcol_image)
    ]

    apply(kubectl, sample_app(namespace, good))
    seen = set[str]()
    eventually("v1 of the sample app Running", lambda: images_of(kubectl, namespace) == {good}, 90)
    seen |= pod_names(kubectl, namespace)
    eventually(
        "v1's lines stored by the processors (stdout -> file -> collector -> Kafka -> PostgreSQL)",
        lambda: sum(p.stored for p in stored_lines(database_url, namespace).values()) >= 20,
        90,
    )
    assert first_error_at(database_url, namespace) is None, "v1 never fails"
    record = one_record(database_url, namespace)  # as the real collector delivered it
    assert record["pod"] in seen
    assert (record["container"], record["node"], record["stream"]) == ("app", REAL_NODE, "stdout")
    assert record["level"] == "info"
    assert record["message"].startswith("payment for order ")

    kubectl("set", "image", f"deployment/{APP}", f"app={bad}", "-n", namespace)
    eventually("v2 Running", lambda: bad in images_of(kubectl, namespace), 90)
    seen |= pod_names(kubectl, namespace)
    eventually(
        "an Incident from the rule",
        lambda: bool(get_json(kubectl, "incidents", "-n", namespace)["items"]),
        DETECT_TIMEOUT,
    )
    incident = get_json(kubectl, "incidents", "-n", namespace)["items"][0]
    assert incident["spec"]["rule"] == rule["metadata"]["name"]
    assert incident["spec"]["service"] == APP
    assert incident["spec"]["target"]["name"] == APP
    name = incident["metadata"]["name"]
    first_error = first_error_at(database_url, namespace)
    opened, _ = incident_times(database_url, name)
    assert first_error is not None
    assert opened is not None, "the processor recorded the incident"
    node_figure("chain_detect_s", (opened - first_error).total_seconds())

    def phase() -> str | None:
        status = get_json(kubectl, "incident", name, "-n", namespace).get("status") or {}
        return status.get("phase")

    eventually(
        "the Deployment rolled back to v1", lambda: images_of(kubectl, namespace) == {good}, 180
    )
    seen |= pod_names(kubectl, namespace)
    eventually("the Incident Resolved after verification", lambda: phase() == "Resolved",
               RESOLVE_TIMEOUT)  # fmt: skip
    _, resolved = incident_times(database_url, name)
    node_figure("chain_resolve_s", ((resolved or datetime.now(UTC)) - opened).total_seconds())
    deployment = get_json(kubectl, "deployment", APP, "-n", namespace)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == good

    # Every pod stops cleanly and writes its count; each count must be stored exactly once.
    lines = account_lines(kubectl, database_url, namespace, seen, eventually)
    assert set(lines.pods) == seen, "records carry the pods' names"
    node_figure("chain_lost", lines.lost)
    node_figure("chain_duplicated", lines.duplicated)
    assert (lines.lost, lines.duplicated) == (0, 0), lines
