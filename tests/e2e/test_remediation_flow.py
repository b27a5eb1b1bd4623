"""The whole chain on the local stack: a bad rollout (v2) logs errors -> Kafka -> a processor
opens an Incident whose target is the Deployment -> the operator (ServiceAccount token, real
process) rolls it back to v1 -> pods run v1 again -> verification sees the rollout complete and
the rule's stored counts back under the threshold -> the incident ends Resolved, every step
listed in its status, the audit table and Events."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from support.api import logged_in_api
from support.operator import Cluster
from support.remediation_flow import APP, V1, V2, bad_rollout_opens_an_incident, kube_processor
from support.running import Running, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def processor(
    cluster: Cluster, kafka_bootstrap: str, kafka_topic: str, kube_config: str
) -> Iterator[Running]:
    with kube_processor(cluster, kafka_bootstrap, kafka_topic, kube_config) as running:
        yield running


def test_bad_rollout_is_rolled_back_verified_and_resolved(
    cluster: Cluster, processor: Running, kafka_bootstrap: str, kafka_topic: str
) -> None:
    name = bad_rollout_opens_an_incident(cluster, processor, kafka_bootstrap, kafka_topic, "auto")
    cluster.wait_rolled_out(APP, V1, timeout=60)
    status = cluster.wait_phase(name, {"Resolved", "Escalated"}, timeout=150)
    assert status["phase"] == "Resolved", json.dumps(status)
    assert [(a["type"], a["result"]) for a in status["actions"]] == [
        ("rollback", "Succeeded"),
        ("verify", "Succeeded"),
    ]
    assert "revision" in status["actions"][0]["message"]
    assert "signal recovered" in status["actions"][1]["message"]
    assert status["playbook"] == "rollback-bad-release"
    deployment = cluster.deployment(APP)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == V1
    audit = cluster.audit(name)
    assert [(a[0], a[1]) for a in audit] == [
        ("rollback", "Succeeded"),
        ("verify", "Succeeded"),
        ("finish", "Succeeded"),
    ]
    reasons = {e["reason"] for e in cluster.events_for("Incident", name)}
    assert {"RemediationStarted", "RemediationStep", "RemediationSucceeded"} <= reasons
    assert "RemediationStep" in {e["reason"] for e in cluster.events_for("Deployment", APP)}


def test_dry_run_of_the_same_flow_changes_nothing(
    cluster: Cluster, processor: Running, kafka_bootstrap: str, kafka_topic: str, kube_config: str
) -> None:
    name = bad_rollout_opens_an_incident(cluster, processor, kafka_bootstrap, kafka_topic, "dryRun")

    def recorded() -> bool:
        return len(cluster.incident_status(name).get("actions", [])) == 2

    eventually("the dry run recorded", recorded, 30)
    status = cluster.incident_status(name)
    assert [(a["type"], a["result"]) for a in status["actions"]] == [
        ("rollback", "DryRun"),
        ("verify", "DryRun"),
    ]
    assert status.get("phase") == "Open"
    deployment = cluster.deployment(APP)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == V2
    assert "logsentinel.io/last-action" not in deployment["metadata"].get("annotations", {})

    # a person closes it through the API: the operator resolves the object
    with logged_in_api(cluster.database_url, kube_config) as client:
        answer = client.post(f"/api/v1/incidents/{name}/resolve", json={"resolution": "known"})
        assert answer.status_code == 202, answer.text
    resolved = cluster.wait_phase(name, {"Resolved"})
    assert resolved["resolution"] == "resolved by root"


def test_approval_of_the_same_flow_acts_only_once_approved(
    cluster: Cluster, processor: Running, kafka_bootstrap: str, kafka_topic: str, kube_config: str
) -> None:
    name = bad_rollout_opens_an_incident(
        cluster, processor, kafka_bootstrap, kafka_topic, "approval"
    )
    cluster.wait_phase(name, {"AwaitingApproval"})
    deployment = cluster.deployment(APP)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == V2
    assert not cluster.incident_status(name).get("actions")
    with logged_in_api(
        cluster.database_url, kube_config
    ) as client:  # the API writes the approval on the object
        answer = client.post(f"/api/v1/incidents/{name}/approve")
        assert answer.status_code == 202, answer.text
    cluster.wait_rolled_out(APP, V1, timeout=60)
    status = cluster.wait_phase(name, {"Resolved", "Escalated"}, timeout=150)
    assert status["phase"] == "Resolved", json.dumps(status)
    approvals = [a for a in cluster.audit(name) if a[0] == "approve"]
    assert approvals, "the approval is audited"
    incident = cluster.get("incident", name)
    assert incident["metadata"]["annotations"]["logsentinel.io/approved-by"] == "root"
