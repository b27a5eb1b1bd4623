"""The operator on the local stack (real apiserver, kwok nodes, PostgreSQL), run as a process
with a ServiceAccount token bound only to its ClusterRole: remediation modes, every guard,
restart safety, peering, and the Ready conditions of rules and playbooks."""

from __future__ import annotations

import email
import json
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from devstack.proc import free_port
from support.operator import Cluster, now_stamp
from support.running import eventually

pytestmark = pytest.mark.e2e


# --- fixtures ---------------------------------------------------------------------------------


RESTART = {"type": "rolloutRestart"}


def restarted_at(deployment: dict[str, Any]) -> str | None:
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    value = annotations.get("kubectl.kubernetes.io/restartedAt")
    return str(value) if value else None


# --- modes ------------------------------------------------------------------------------------


def test_dry_run_records_what_it_would_do_and_changes_nothing(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    before = cluster.deployment("checkout")
    cluster.healthy_pipeline()
    cluster.playbook("restart", "dryRun", [RESTART, {"type": "verify"}])
    cluster.start_operator()
    cluster.incident("inc-dry", "checkout")

    def recorded() -> bool:
        return len(cluster.incident_status("inc-dry").get("actions", [])) == 2

    eventually("both steps recorded as dry runs", recorded, 60)
    status = cluster.incident_status("inc-dry")
    assert [a["result"] for a in status["actions"]] == ["DryRun", "DryRun"]
    assert all(a["dryRun"] for a in status["actions"])
    assert "would restart Deployment" in status["actions"][0]["message"]
    assert status.get("phase", "Open") == "Open", "a dry run does not claim a fix"
    after = cluster.deployment("checkout")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert restarted_at(after) is None
    eventually(
        "the dry run audited",
        lambda: ("rolloutRestart", "DryRun", None, True) in cluster.audit("inc-dry"),
        10,
    )


def test_approval_waits_for_the_annotation_then_acts(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    cluster.playbook("restart", "approval", [RESTART])
    metrics_port = free_port()
    cluster.start_operator(extra_env={"LOGSENTINEL_METRICS_PORT": str(metrics_port)})
    cluster.incident("inc-approve", "checkout")
    cluster.wait_phase("inc-approve", {"AwaitingApproval"})
    assert restarted_at(cluster.deployment("checkout")) is None, "nothing before approval"
    cluster.kubectl(
        "annotate",
        "incident",
        "inc-approve",
        "logsentinel.io/approved=true",
        "-n",
        cluster.namespace,
    )
    status = cluster.wait_phase("inc-approve", {"Mitigated"})
    assert [(a["type"], a["result"]) for a in status["actions"]] == [
        ("rolloutRestart", "Succeeded")
    ]
    assert restarted_at(cluster.deployment("checkout")) is not None
    audit = cluster.audit("inc-approve")
    assert ("approve", "Succeeded", None, False) in audit
    assert ("rolloutRestart", "Succeeded", None, False) in audit
    reasons = {e["reason"] for e in cluster.events_for("Deployment", "checkout")}
    assert "RemediationStep" in reasons, "the action is an Event on the target too"
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
        exposition = answer.read().decode()
    assert (
        'logsentinel_remediation_actions_total{action="rolloutRestart",result="Succeeded"} 1.0'
        in exposition
    )


# --- guards -----------------------------------------------------------------------------------


def refused_by(cluster: Cluster, incident: str) -> tuple[str, str]:
    status = cluster.wait_phase(incident, {"Escalated"})
    refused = [a for a in status["actions"] if a["result"] == "Refused"]
    assert len(refused) == 1, status
    return refused[0]["guard"], refused[0]["message"]


def test_namespace_allow_list_refuses(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    cluster.playbook("restart", "auto", [RESTART], guards={"allowedNamespaces": ["payments"]})
    cluster.start_operator()
    cluster.incident("inc-ns", "checkout")
    guard, message = refused_by(cluster, "inc-ns")
    assert guard == "allowedNamespaces"
    assert cluster.namespace in message
    assert "payments" in message
    assert restarted_at(cluster.deployment("checkout")) is None
    assert ("rolloutRestart", "Refused", "allowedNamespaces", False) in cluster.audit("inc-ns")


def test_unhealthy_pipeline_refuses(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    # no processor heartbeat at all: missing data must not look like recovery
    cluster.playbook("restart", "auto", [RESTART])
    cluster.start_operator()
    cluster.incident("inc-lag", "checkout")
    guard, message = refused_by(cluster, "inc-lag")
    assert guard == "pipelineHealth"
    assert "heartbeat" in message
    assert restarted_at(cluster.deployment("checkout")) is None


def test_lagging_pipeline_refuses(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    assert cluster.pipeline is not None
    cluster.pipeline.lag = type(cluster.pipeline.lag)(records=5000, seconds=120.0)
    cluster.playbook("restart", "auto", [RESTART])
    cluster.start_operator()
    cluster.incident("inc-lag2", "checkout")
    guard, message = refused_by(cluster, "inc-lag2")
    assert guard == "pipelineHealth"
    assert "behind" in message


def test_min_healthy_replicas_refuses(cluster: Cluster) -> None:
    cluster.deploy("checkout", replicas=1)
    cluster.healthy_pipeline()
    cluster.playbook("restart", "auto", [RESTART], guards={"minHealthyReplicas": 2})
    cluster.start_operator()
    cluster.incident("inc-min", "checkout")
    guard, message = refused_by(cluster, "inc-min")
    assert guard == "minHealthyReplicas"
    assert "1 available replica" in message
    assert "at least 2" in message


def test_cooldown_per_target_refuses(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    recently = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    cluster.kubectl(
        "annotate",
        "deployment",
        "checkout",
        "-n",
        cluster.namespace,
        "logsentinel.io/last-action=some-other-incident/1/restart",
        f"logsentinel.io/last-action-at={recently}",
    )
    cluster.playbook("restart", "auto", [RESTART], guards={"cooldownPerTarget": "10m"})
    cluster.start_operator()
    cluster.incident("inc-cool", "checkout")
    guard, message = refused_by(cluster, "inc-cool")
    assert guard == "cooldownPerTarget"
    assert "cooldown is 10 min" in message


def test_max_attempts_per_incident_refuses_a_second_attempt(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    cluster.playbook(
        "restart",
        "auto",
        [RESTART],
        guards={"maxAttemptsPerIncident": 1, "cooldownPerTarget": "1s"},
    )
    cluster.start_operator()
    cluster.incident("inc-again", "checkout")
    cluster.wait_phase("inc-again", {"Mitigated"})
    # the incident fires again later: another attempt would exceed the limit
    cluster.kubectl(
        "patch",
        "incident",
        "inc-again",
        "-n",
        cluster.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"lastSeen": now_stamp(timedelta(seconds=5)), "occurrences": 2}}),
    )
    guard, message = refused_by(cluster, "inc-again")
    assert guard == "maxAttemptsPerIncident"
    assert "1 attempt(s) already made" in message


def test_circuit_breaker_opens_after_failures_and_refuses_until_reset(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    # a rollback with no previous revision fails: one failure opens this breaker
    cluster.playbook(
        "undo",
        "auto",
        [{"type": "rollback"}],
        guards={"circuitBreakerFailures": 1, "cooldownPerTarget": "1s"},
    )
    cluster.start_operator()
    cluster.incident("inc-fail", "checkout")
    status = cluster.wait_phase("inc-fail", {"Escalated"})
    assert status["actions"][0]["result"] == "Failed"
    assert "no previous revision" in status["actions"][0]["message"]

    def breaker_open() -> bool:
        return bool(cluster.get("playbook", "undo").get("status", {}).get("circuitOpen"))

    eventually("the circuit breaker opens", breaker_open, 20)
    cluster.incident("inc-blocked", "checkout")
    guard, message = refused_by(cluster, "inc-blocked")
    assert guard == "circuitBreaker"
    assert "reset-circuit" in message
    cluster.kubectl(
        "annotate", "playbook", "undo", "logsentinel.io/reset-circuit=true", "-n", cluster.namespace
    )
    eventually("a human resets the breaker", lambda: not breaker_open(), 20)


# --- restart safety and peering ---------------------------------------------------------------


def test_operator_killed_between_steps_never_repeats_a_step(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    cluster.healthy_pipeline()
    cluster.playbook(
        "restart-then-scale",
        "auto",
        [
            RESTART,
            {"type": "wait", "wait": {"duration": "4s"}},
            {"type": "scale", "scale": {"replicas": 2, "maxReplicas": 3}},
        ],
    )
    first = cluster.start_operator()
    cluster.incident("inc-kill", "checkout")

    def restarted_and_waiting() -> bool:
        actions = cluster.incident_status("inc-kill").get("actions", [])
        return [a["result"] for a in actions] == ["Succeeded", "Pending"]

    eventually("step 1 done, step 2 waiting", restarted_and_waiting, 60)
    restart_value = restarted_at(cluster.deployment("checkout"))
    first.kill()
    cluster.start_operator(priority=101)
    status = cluster.wait_phase("inc-kill", {"Mitigated"}, timeout=90)
    assert [(a["step"], a["result"]) for a in status["actions"]] == [
        ("rolloutRestart", "Succeeded"),
        ("wait", "Succeeded"),
        ("scale", "Succeeded"),
    ]
    deployment = cluster.deployment("checkout")
    assert restarted_at(deployment) == restart_value, "the restart was not applied again"
    assert deployment["spec"]["replicas"] == 2
    audit = cluster.audit("inc-kill")
    assert [a for a in audit if a[0] == "rolloutRestart"] == [
        ("rolloutRestart", "Succeeded", None, False)
    ]


def test_two_operators_exactly_one_acts(cluster: Cluster) -> None:
    for name in ("cart", "search", "profile"):
        cluster.deploy(name)
    cluster.healthy_pipeline()
    cluster.playbook("restart", "auto", [RESTART], guards={"maxActionsPerHour": 100})
    low = cluster.start_operator(priority=10)
    high = cluster.start_operator(priority=20)
    for name in ("cart", "search", "profile"):
        cluster.incident(f"inc-{name}", name)
    for name in ("cart", "search", "profile"):
        status = cluster.wait_phase(f"inc-{name}", {"Mitigated"})
        assert [a["result"] for a in status["actions"]] == ["Succeeded"]
        audit = cluster.audit(f"inc-{name}")
        assert [a for a in audit if a[0] == "rolloutRestart"] == [
            ("rolloutRestart", "Succeeded", None, False)
        ]
    assert "rolloutRestart" in high.log(), "the higher-priority replica acted"
    assert "rolloutRestart" not in low.log(), "the lower-priority replica stayed paused"


# --- Ready conditions -------------------------------------------------------------------------


def test_rules_and_playbooks_get_ready_conditions_naming_the_bad_field(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.apply(
        {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": "good", "namespace": cluster.namespace},
            "spec": {
                "match": {"levels": ["error"]},
                "detector": {"type": "threshold", "threshold": {"count": 5}},
                "severity": "high",
                "incidentType": "ErrorBurst",
            },
        }
    )
    cluster.apply(
        {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": "bad-regex", "namespace": cluster.namespace},
            "spec": {
                "match": {"regex": "timeout(("},
                "detector": {"type": "threshold", "threshold": {"count": 5}},
                "severity": "high",
                "incidentType": "ErrorBurst",
            },
        }
    )
    cluster.playbook("restart", "auto", [RESTART])

    def ready(kind: str, name: str) -> dict[str, Any]:
        conditions = cluster.get(kind, name).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Ready"), {})

    eventually(
        "the good rule is Ready", lambda: ready("detectionrule", "good").get("status") == "True", 30
    )
    eventually(
        "the bad rule is not Ready",
        lambda: ready("detectionrule", "bad-regex").get("status") == "False",
        30,
    )
    eventually(
        "the playbook is Ready", lambda: ready("playbook", "restart").get("status") == "True", 30
    )
    bad = ready("detectionrule", "bad-regex")
    assert bad["reason"] in ("InvalidSpec", "InvalidDetector")
    assert "regex" in bad["message"]
    good = cluster.get("detectionrule", "good")
    assert good["status"]["observedGeneration"] == good["metadata"]["generation"]
    warnings = [
        e for e in cluster.events_for("DetectionRule", "bad-regex") if e["type"] == "Warning"
    ]
    assert warnings
    assert "regex" in warnings[0]["message"]


# --- notifications ----------------------------------------------------------------------------


class WebhookReceiver:
    """A local HTTP endpoint that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        bodies: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.bodies = bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


def test_notify_step_posts_a_webhook_and_sends_an_email(cluster: Cluster) -> None:
    cluster.deploy("checkout")
    receiver = WebhookReceiver()
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            "smtp",
            "-n",
            cluster.namespace,
            "--from-literal=host=127.0.0.1",
            f"--from-literal=port={smtp_port}",
            "--from-literal=from=sentinel@example.test",
            "--from-literal=starttls=false",
        )
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            "hook",
            "-n",
            cluster.namespace,
            f"--from-literal=url={receiver.url}",
        )
        cluster.playbook(
            "tell-people",
            "auto",
            [
                {
                    "type": "notify",
                    "notify": {
                        "message": "checkout is failing",
                        "webhook": {"urlSecretRef": {"name": "hook", "key": "url"}},
                        "email": {"to": ["oncall@example.test"], "smtpSecretRef": {"name": "smtp"}},
                    },
                }
            ],
        )
        # Loopback is not public: allowed the way an in-cluster receiver is.
        cluster.start_operator(extra_env={"LOGSENTINEL_NOTIFY_ALLOWED_TARGETS": '["127.0.0.1"]'})
        cluster.incident("inc-notify", "checkout")
        status = cluster.wait_phase("inc-notify", {"Mitigated", "Escalated"})
        assert [(a["type"], a["result"]) for a in status["actions"]] == [("notify", "Succeeded")]
        assert len(receiver.bodies) == 1
        body = receiver.bodies[0]
        assert "checkout is failing" in json.dumps(body)
        assert "inc-notify" in body["text"] or "inc-notify" in json.dumps(body["logsentinel"])
        assert body["logsentinel"]["severity"] == "high"
        assert len(mailbox.messages) == 1
        mail = mailbox.messages[0]
        assert mail["To"] == "oncall@example.test"
        assert "high" in mail["Subject"]
        text = mail.get_content()
        assert "checkout is failing" in text
        assert "checkout-errors" in text
        assert "secret-token" not in status["actions"][0]["message"], "webhook URLs are secrets"
    finally:
        smtp.stop()
        receiver.close()
