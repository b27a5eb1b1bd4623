"""Rules and playbooks through the API in Kubernetes mode: they are the custom resources; an
incident is read with its phase and actions from the Incident object's status, and with the
playbook run (pending approval) from its annotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
import pytest

from devstack.pytest_plugin import Kubectl
from logsentinel.domain.incident import IncidentSpec
from logsentinel.domain.remediation import PROGRESS_ANNOTATION
from logsentinel.storage import incidents
from logsentinel.storage.urls import libpq_url
from support.api import logged_in_api

pytestmark = pytest.mark.e2e

RULE = {
    "match": {"levels": ["error"]},
    "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
    "severity": "high",
    "incidentType": "ErrorBurst",
}


def test_rules_written_through_the_api_are_detection_rule_objects(
    crds: Kubectl, kube_namespace: str, kube_config: str, database_url: str
) -> None:
    with logged_in_api(database_url, kube_config) as client:
        path = f"/api/v1/rules/{kube_namespace}/error-burst"
        assert client.put(path, json=RULE).status_code == 201
        stored = json.loads(
            crds("get", "dr", "error-burst", "-n", kube_namespace, "-o", "json").stdout
        )
        assert stored["spec"]["detector"]["threshold"]["count"] == 5
        changed = {**RULE, "detector": {"type": "ratio", "ratio": {"above": 0.2}}}
        assert client.put(path, json=changed).status_code == 200
        stored = json.loads(
            crds("get", "dr", "error-burst", "-n", kube_namespace, "-o", "json").stdout
        )
        assert stored["spec"]["detector"]["type"] == "ratio"
        assert "threshold" not in stored["spec"]["detector"], "the spec is replaced, not merged"
        listed = client.get("/api/v1/rules", params={"namespace": kube_namespace}).json()
        assert [r["metadata"]["name"] for r in listed] == ["error-burst"]
        assert client.delete(path).status_code == 204
        gone = crds("get", "dr", "error-burst", "-n", kube_namespace, check=False)
        assert gone.returncode != 0
        assert client.get(path).status_code == 404


def test_an_incident_is_read_with_the_phase_and_actions_of_its_object(
    crds: Kubectl, kube_namespace: str, kube_config: str, database_url: str
) -> None:
    now = datetime.now(UTC).isoformat()
    spec = IncidentSpec.model_validate(
        {
            "rule": "error-burst",
            "incidentType": "ErrorBurst",
            "severity": "high",
            "fingerprint": "0123456789abcdef",
            "service": "checkout",
            "firstSeen": now,
            "lastSeen": now,
        }
    )
    incident = {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "burst", "namespace": kube_namespace},
        "spec": spec.to_wire(),
    }
    progress = {
        "playbook": f"{kube_namespace}/restart",
        "mode": "approval",
        "state": "AwaitingApproval",
        "startedAt": now,
        "waitingFor": "approval",
    }
    incident["metadata"]["annotations"] = {PROGRESS_ANNOTATION: json.dumps(progress)}
    crds("apply", "-f", "-", stdin=json.dumps(incident))
    status = {
        "phase": "Remediating",
        "actions": [
            {
                "playbook": "restart",
                "step": "restart",
                "type": "rolloutRestart",
                "startedAt": now,
                "result": "Succeeded",
            }
        ],
    }
    patch = ["--subresource=status", "--type=merge", "-p", json.dumps({"status": status})]
    crds("patch", "incident", "burst", "-n", kube_namespace, *patch)
    with logged_in_api(database_url, kube_config) as client:
        playbook = {
            "mode": "approval",
            "steps": [{"type": "rolloutRestart"}, {"type": "verify", "name": "calm"}],
        }
        assert client.put(f"/api/v1/playbooks/{kube_namespace}/restart", json=playbook).is_success
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            incidents.open_incident(
                connection,
                name="burst",
                namespace=kube_namespace,
                rule=f"{kube_namespace}/error-burst",
                group_key={"service": "checkout"},
                spec=spec,
                source=None,
            )
        answer = client.get("/api/v1/incidents/burst")
        assert answer.status_code == 200, answer.text
        assert answer.json()["phase"] == "Remediating", "the object's phase, not the table's"
        assert [a["type"] for a in answer.json()["actions"]] == ["rolloutRestart"]
        remediation = answer.json()["remediation"]
        assert remediation["playbook"] == f"{kube_namespace}/restart"
        assert (remediation["state"], remediation["approved"]) == ("AwaitingApproval", False)
        assert [(s["name"], s["type"]) for s in remediation["steps"]] == [
            ("rolloutRestart", "rolloutRestart"),
            ("calm", "verify"),
        ]
        assert client.post("/api/v1/incidents/burst/approve").status_code == 202
        approved = client.get("/api/v1/incidents/burst").json()["remediation"]
        assert approved["approved"] is True, "the approval annotation is on the object"
