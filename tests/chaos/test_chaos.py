"""Faults on the real node while the sample app logs at a counted rate through the whole chain
(sample app -> collector agent -> Kafka -> processors -> PostgreSQL): after each, every line
the app wrote is stored, none twice, and no remediation step is applied twice. The scenarios
of docs/reliability.md."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from devstack.kafka import Kafka
from devstack.postgres import Postgres
from devstack.pytest_plugin import Kubectl
from support.chain import (
    APP,
    apply,
    images_of,
    pod_names,
    rule_and_playbook,
)
from support.chaos import (
    LINES_PER_SECOND,
    PROCESSORS,
    RECOVERY_TIMEOUT,
    Chain,
    IngestClient,
    Outcome,
    ingested,
    outage_stored,
    recover,
    require_own,
    settle,
)
from support.node import CHART, POD_TIMEOUT, example
from support.operator import get_json
from support.running import eventually

pytestmark = [pytest.mark.node, pytest.mark.chaos]

BROKER_OUTAGE_S = 60
DATABASE_OUTAGE_S = 60
SPIKE_FACTOR = 5
SPIKE_S = 60
LAG_SAMPLE_S = 1.0


def test_agent_restarted_resumes_from_its_stored_offsets(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    (agent,) = chain.pods(kubectl, "collector")
    started = time.monotonic()
    kubectl("delete", "pod", agent["metadata"]["name"], "-n", chain.namespace)
    recover(kubectl, chain, chaos_outcome, "collector", 1, started)


def test_processor_killed_mid_stream_loses_and_repeats_nothing(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    victim = chain.pods(kubectl, "processor")[0]["metadata"]["name"]
    started = time.monotonic()
    # No grace: the kubelet kills the container at once, as a crash or an OOM kill would.
    kubectl("delete", "pod", victim, "-n", chain.namespace, "--grace-period=0", "--force")
    recover(kubectl, chain, chaos_outcome, "processor", PROCESSORS, started)


def test_broker_down_the_agent_buffers_on_disk_then_delivers(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    kafka = Kafka()
    require_own(kafka)
    before = chain.stored()
    kafka.stop()
    try:
        # The outage lasts BROKER_OUTAGE_S while the app keeps writing: the agent's queue on
        # disk holds what Kafka cannot take. Time passing is the fault here, not a wait for a
        # condition.
        time.sleep(BROKER_OUTAGE_S)
        assert chain.stored() - before < BROKER_OUTAGE_S * LINES_PER_SECOND / 2, "Kafka was down"
    finally:
        kafka.start()
    outage_stored(kubectl, chain, chaos_outcome, BROKER_OUTAGE_S)
    settle(kubectl, chain, chaos_outcome)


def test_database_down_processors_pause_and_resume_without_dead_letters(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    postgres = Postgres()
    require_own(postgres)
    postgres.stop()
    try:
        # The outage lasts DATABASE_OUTAGE_S while the app keeps writing (the fault, not a wait).
        time.sleep(DATABASE_OUTAGE_S)
    finally:
        postgres.start()
    outage_stored(kubectl, chain, chaos_outcome, DATABASE_OUTAGE_S)
    assert chain.dead_letters() == 0, "good records were set aside while the database was down"
    said = chain.processor_logs(kubectl)
    assert "store failed; paused" in said, "the processors say why they stopped"
    assert "consumption resumed" in said
    settle(kubectl, chain, chaos_outcome)


def _silence_rule(namespace: str) -> dict[str, Any]:
    """The sample app going quiet for 30 s: fires falsely if a catch-up judges the wall clock."""
    rule = example("rules/absence-heartbeat.yaml", namespace)
    spec = rule["spec"]
    spec["selector"] = {"services": [APP]}
    spec["match"] = {}
    spec["detector"]["absence"] = {"silentFor": "30s", "minPriorCount": 5}
    return rule


def _app_pods_running(kubectl: Kubectl, namespace: str) -> int:
    pods = get_json(kubectl, "pods", "-n", namespace, "-l", f"app={APP}")["items"]
    return sum(
        pod["status"].get("phase") == "Running" and "deletionTimestamp" not in pod["metadata"]
        for pod in pods
    )


def test_spike_of_five_times_the_rate_is_stored_and_caught_up_without_false_incidents(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    namespace = chain.namespace
    apply(kubectl, _silence_rule(namespace))
    chain.flowing(kubectl, 10 * LINES_PER_SECOND)  # the rule sees the app logging first
    kubectl("scale", f"deployment/{APP}", f"--replicas={SPIKE_FACTOR}", "-n", namespace)
    eventually(
        f"{SPIKE_FACTOR} app pods running",
        lambda: _app_pods_running(kubectl, namespace) == SPIKE_FACTOR,
        90,
    )
    chain.seen |= pod_names(kubectl, namespace)
    peak = 0
    spike_ends = time.monotonic() + SPIKE_S
    while time.monotonic() < spike_ends:
        peak = max(peak, chain.lag())
        time.sleep(LAG_SAMPLE_S)  # sampling the lag during the spike, not waiting for it
    chain.seen |= pod_names(kubectl, namespace)
    kubectl("scale", f"deployment/{APP}", "--replicas=1", "-n", namespace)
    started = time.monotonic()
    eventually("the processors caught up (lag 0)", lambda: chain.lag() == 0, RECOVERY_TIMEOUT)
    chaos_outcome.recovery_s = time.monotonic() - started
    chaos_outcome.peak_lag = peak
    incidents = get_json(kubectl, "incidents", "-n", namespace)["items"]
    assert incidents == [], "the catch-up opened incidents"
    settle(kubectl, chain, chaos_outcome)


def _actions(kubectl: Kubectl, namespace: str, incident: str) -> list[dict[str, Any]]:
    found = get_json(kubectl, "incident", incident, "-n", namespace)
    return list((found.get("status") or {}).get("actions") or [])


def test_operator_killed_mid_playbook_completes_it_once(
    kubectl: Kubectl, chain: Chain, sample_app_images: list[str], chaos_outcome: Outcome
) -> None:
    namespace = chain.namespace
    good, bad = sample_app_images
    rule, playbook = rule_and_playbook(namespace)
    playbook["spec"]["verification"]["window"] = "1m"
    apply(kubectl, rule)
    apply(kubectl, playbook)
    kubectl("set", "image", f"deployment/{APP}", f"app={bad}", "-n", namespace)
    eventually("v2 Running", lambda: bad in images_of(kubectl, namespace), 90)
    chain.seen |= pod_names(kubectl, namespace)
    eventually(
        "an Incident from the rule",
        lambda: bool(get_json(kubectl, "incidents", "-n", namespace)["items"]),
        120,
    )
    incident = get_json(kubectl, "incidents", "-n", namespace)["items"][0]["metadata"]["name"]
    eventually(
        "the rollback step under way",
        lambda: any(a["type"] == "rollback" for a in _actions(kubectl, namespace, incident)),
        120,
    )
    (operator,) = chain.pods(kubectl, "operator")
    started = time.monotonic()
    kubectl("delete", "pod", operator["metadata"]["name"], "-n", namespace,
            "--grace-period=0", "--force")  # fmt: skip
    eventually("the Deployment back on v1", lambda: images_of(kubectl, namespace) == {good}, 180)
    chain.seen |= pod_names(kubectl, namespace)

    def phase() -> str | None:
        status = get_json(kubectl, "incident", incident, "-n", namespace).get("status") or {}
        return status.get("phase")

    eventually("the Incident Resolved after verification", lambda: phase() == "Resolved",
               2 * RECOVERY_TIMEOUT)  # fmt: skip
    chaos_outcome.recovery_s = time.monotonic() - started
    steps = Counter((a["playbook"], a["step"]) for a in _actions(kubectl, namespace, incident))
    deployment = get_json(kubectl, "deployment", APP, "-n", namespace)
    # v1 is revision 1, v2 revision 2, the rollback makes v1 revision 3; a second rollback
    # would bring back v2 as revision 4.
    revision = int(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    chaos_outcome.double_actions = sum(n - 1 for n in steps.values()) + max(0, revision - 3)
    assert chaos_outcome.double_actions == 0, (steps, revision)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == good
    settle(kubectl, chain, chaos_outcome)


INGEST_BATCHES_EACH_SIDE = 20


def test_api_restarted_during_ingest_stores_every_accepted_record_once(
    kubectl: Kubectl,
    helm: Kubectl,
    operator_pod: str,
    chain: Chain,
    pod_kafka_bootstrap: str,
    chaos_outcome: Outcome,
) -> None:
    namespace, release = chain.namespace, operator_pod
    password = secrets.token_urlsafe(18)
    kubectl("create", "secret", "generic", "api-secrets", "-n", namespace,
            f"--from-literal=jwt-secret={secrets.token_urlsafe(48)}",
            f"--from-literal=admin-password={password}")  # fmt: skip
    helm(
        "upgrade", release, str(CHART), "-n", namespace, "--reuse-values",
        "--set", "api.enabled=true", "--set", "api.existingSecret=api-secrets",
        "--set-json", f'kafka.bootstrapServers=["{pod_kafka_bootstrap}"]',
        "--set", f"kafka.topic={chain.topic}",
        "--wait", f"--timeout={POD_TIMEOUT}s", timeout=POD_TIMEOUT + 30,
    )  # fmt: skip
    service = get_json(kubectl, "service", f"{release}-logsentinel-api", "-n", namespace)
    base = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=30
    )
    assert login.status_code == 200, login.text
    client = IngestClient(base, login.json()["access_token"], namespace)
    client.start()
    try:
        eventually(
            "batches accepted before the restart",
            lambda: len(client.accepted) >= INGEST_BATCHES_EACH_SIDE * 50,
            60,
        )
        (api,) = chain.pods(kubectl, "api")
        started = time.monotonic()
        before = len(client.accepted)
        kubectl("delete", "pod", api["metadata"]["name"], "-n", namespace, "--wait=false")
        eventually("the new API pod Ready", lambda: chain.ready(kubectl, "api") == 1,
                   RECOVERY_TIMEOUT)  # fmt: skip
        eventually(
            "batches accepted by the new API pod",
            lambda: len(client.accepted) >= before + INGEST_BATCHES_EACH_SIDE * 50,
            RECOVERY_TIMEOUT,
        )
        chaos_outcome.recovery_s = time.monotonic() - started
    finally:
        client.stop()
    assert client.unknown == 0, "504: the API could not tell whether a batch was stored"
    accepted = set(client.accepted)
    eventually(
        "every accepted record stored",
        lambda: accepted <= set(ingested(chain.database_url, namespace)),
        RECOVERY_TIMEOUT,
    )
    stored = ingested(chain.database_url, namespace)
    chaos_outcome.written = len(accepted)
    chaos_outcome.lost = len(accepted - set(stored))
    chaos_outcome.duplicated = sum(n - 1 for n in stored.values())
    print(f"ingest: {len(accepted)} records accepted, {client.retries} attempts sent again")
    assert (chaos_outcome.lost, chaos_outcome.duplicated) == (0, 0), stored.most_common(3)
    settle(kubectl, chain, chaos_outcome)
