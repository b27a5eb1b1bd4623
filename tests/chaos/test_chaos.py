"""Faults on the real node while the sample app logs at a counted rate through the whole chain
(sample app -> collector agent -> Kafka -> processors -> PostgreSQL): after each, every line
the app wrote is stored, none twice. Scenarios of docs/reliability.md; more to come (issue 17)."""

from __future__ import annotations

import time

import pytest

from devstack.kafka import Kafka
from devstack.pytest_plugin import Kubectl
from support.chain import account_lines
from support.chaos import LINES_PER_SECOND, PROCESSORS, Chain, Outcome, component_pods, ready_count
from support.running import eventually

pytestmark = [pytest.mark.node, pytest.mark.chaos]

RECOVERY_TIMEOUT = 180
BROKER_OUTAGE_S = 60


def _recover(
    kubectl: Kubectl, chain: Chain, outcome: Outcome, component: str, replicas: int, started: float
) -> None:
    """After a pod of ``component`` went: its replacement Ready, lines flowing again (the
    recovery time, from ``started``), then every line accounted for."""
    eventually(
        f"{replicas} {component} pod(s) Ready again",
        lambda: ready_count(kubectl, chain.namespace, component) == replicas,
        RECOVERY_TIMEOUT,
    )
    chain.flowing(kubectl, LINES_PER_SECOND, RECOVERY_TIMEOUT)
    outcome.recovery_s = time.monotonic() - started
    _settle(kubectl, chain, outcome)


def _settle(kubectl: Kubectl, chain: Chain, outcome: Outcome) -> None:
    """Lines flow again; stop the app, account for every line, record the outcome."""
    chain.flowing(kubectl, 5 * LINES_PER_SECOND, RECOVERY_TIMEOUT)
    lines = account_lines(kubectl, chain.database_url, chain.namespace, chain.seen, eventually)
    outcome.written, outcome.lost, outcome.duplicated = lines.written, lines.lost, lines.duplicated
    assert (lines.lost, lines.duplicated) == (0, 0), lines
    outcome.passed = True


def test_agent_restarted_resumes_from_its_stored_offsets(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    (agent,) = component_pods(kubectl, chain.namespace, "collector")
    started = time.monotonic()
    kubectl("delete", "pod", agent["metadata"]["name"], "-n", chain.namespace)
    _recover(kubectl, chain, chaos_outcome, "collector", 1, started)


def test_processor_killed_mid_stream_loses_and_repeats_nothing(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    victim = component_pods(kubectl, chain.namespace, "processor")[0]["metadata"]["name"]
    started = time.monotonic()
    # No grace: the kubelet kills the container at once, as a crash or an OOM kill would.
    kubectl("delete", "pod", victim, "-n", chain.namespace, "--grace-period=0", "--force")
    _recover(kubectl, chain, chaos_outcome, "processor", PROCESSORS, started)


def test_broker_down_the_agent_buffers_on_disk_then_delivers(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    kafka = Kafka()
    if kafka.external():
        pytest.fail("this scenario stops the stack's own Kafka; unset LOGSENTINEL_KAFKA_BOOTSTRAP")
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
    started = time.monotonic()
    chain.flowing(kubectl, BROKER_OUTAGE_S * LINES_PER_SECOND, RECOVERY_TIMEOUT)
    chaos_outcome.recovery_s = time.monotonic() - started
    _settle(kubectl, chain, chaos_outcome)
