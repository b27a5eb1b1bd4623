"""Buffer full: Kafka stays down for longer than the agent's disk buffer (spec.buffer
.totalLimitSize) holds while the sample app floods. The agent keeps reading and drops what does
not fit; the loss must be bounded (only lines written while the buffer was full), counted (the
LogPipeline's status.droppedRecords equals the lines missing from the store) and reported (a
Warning Event and the Degraded condition), never silent; nothing is stored twice."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.kafka import Kafka
from devstack.pytest_plugin import Kubectl
from support.chain import APP, account_lines, pod_names
from support.chaos import (
    LINES_PER_SECOND,
    RECOVERY_TIMEOUT,
    Chain,
    Outcome,
    require_own,
)
from support.node import POD_TIMEOUT
from support.operator import get_json
from support.running import eventually

pytestmark = [pytest.mark.node, pytest.mark.chaos]

BUFFER_LIMIT = "32Mi"
"""The smallest buffer a LogPipeline accepts; the agent's queue holds 8 MiB of it."""
FLOOD_LINES_PER_SECOND = 400
FLOOD_PADDING = 2000
"""About 0.9 MB/s of log lines: the queue is full some 10 s into the flood."""
DROPS_TIMEOUT = 240
"""Seconds for the drops to reach the LogPipeline: the queue filling, then the operator's
next reading of the agent's counter."""
DROPPED_EVENT = "AgentDroppedRecords"
QUEUE_DRAINED = 0.1


def _pipeline(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    (pipeline,) = get_json(kubectl, "logpipelines", "-n", namespace)["items"]
    return dict(pipeline)


def _dropped(kubectl: Kubectl, namespace: str) -> int:
    return int((_pipeline(kubectl, namespace).get("status") or {}).get("droppedRecords") or 0)


def _condition(kubectl: Kubectl, namespace: str, kind: str) -> dict[str, Any]:
    conditions = (_pipeline(kubectl, namespace).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def _events(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.name={name},reason={DROPPED_EVENT}"
    return list(
        get_json(kubectl, "events", "-n", namespace, f"--field-selector={selector}")["items"]
    )


def _queue_fill(kubectl: Kubectl, chain: Chain) -> float:
    """How full the agent's sending queue is (0..1), from its own metrics."""
    (agent,) = chain.pods(kubectl, "collector")
    answer = httpx.get(f"http://{agent['status']['podIP']}:8888/metrics", timeout=5)
    answer.raise_for_status()
    gauges = {
        family.name: sum(sample.value for sample in family.samples)
        for family in text_string_to_metric_families(answer.text)
        if family.name in ("otelcol_exporter_queue_size", "otelcol_exporter_queue_capacity")
    }
    return gauges["otelcol_exporter_queue_size"] / gauges["otelcol_exporter_queue_capacity"]


def _set_rate(kubectl: Kubectl, namespace: str, lines_per_second: int, padding: int) -> None:
    """Roll the app out at another rate; its new pod joins the ones accounted for."""
    kubectl("set", "env", f"deployment/{APP}", "-n", namespace,
            f"LINES_PER_SECOND={lines_per_second}", f"LINE_PADDING={padding}")  # fmt: skip
    kubectl("rollout", "status", f"deployment/{APP}", "-n", namespace,
            f"--timeout={POD_TIMEOUT}s", timeout=POD_TIMEOUT + 30)  # fmt: skip


def test_buffer_full_loss_is_bounded_counted_and_reported(
    kubectl: Kubectl, chain: Chain, chaos_outcome: Outcome
) -> None:
    kafka = Kafka()
    require_own(kafka)
    namespace = chain.namespace
    name = _pipeline(kubectl, namespace)["metadata"]["name"]
    # The smallest buffer, and only the app's files: the agent's count is the app's lines alone.
    (agent,) = chain.pods(kubectl, "collector")
    narrowed = {
        "buffer": {"totalLimitSize": BUFFER_LIMIT},
        "agent": {"inputs": {"paths": [f"/var/log/pods/{namespace}_{APP}-*/*/*.log"]}},
    }
    kubectl("patch", "logpipeline", name, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": narrowed}))  # fmt: skip
    eventually(
        "the agent replaced with the smaller buffer, Ready",
        lambda: (
            [p["metadata"]["name"] for p in chain.pods(kubectl, "collector")]
            not in ([], [agent["metadata"]["name"]])
            and chain.ready(kubectl, "collector") == 1
        ),
        POD_TIMEOUT,
    )
    chain.flowing(kubectl, LINES_PER_SECOND)
    assert _dropped(kubectl, namespace) == 0

    kafka.stop()
    try:
        before = pod_names(kubectl, namespace)
        _set_rate(kubectl, namespace, FLOOD_LINES_PER_SECOND, FLOOD_PADDING)
        flooding = pod_names(kubectl, namespace) - before
        chain.seen |= flooding
        eventually(
            "the agent's drops counted on the LogPipeline",
            lambda: _dropped(kubectl, namespace) > 0,
            DROPS_TIMEOUT,
        )
        (event,) = _events(kubectl, namespace, name)
        assert event["type"] == "Warning"
        assert "totalLimitSize=32Mi" in event["message"], event["message"]
    finally:
        kafka.start()
    # The flood goes on until the agent's queue has room again: lines read before that are
    # dropped (and counted) too, and the next pod's lines must not be.
    eventually(
        "the agent's queue drained after Kafka's return",
        lambda: _queue_fill(kubectl, chain) < QUEUE_DRAINED,
        RECOVERY_TIMEOUT,
    )
    _set_rate(kubectl, namespace, LINES_PER_SECOND, 0)
    chain.seen |= pod_names(kubectl, namespace)
    eventually(
        "Degraded=True RecordsDropped once Kafka is back",
        lambda: _condition(kubectl, namespace, "Degraded").get("reason") == "RecordsDropped",
        RECOVERY_TIMEOUT,
    )
    chain.flowing(kubectl, 5 * LINES_PER_SECOND, RECOVERY_TIMEOUT)

    lines = account_lines(kubectl, chain.database_url, namespace, chain.seen, eventually)
    lost = {pod: (n.written or 0) - n.distinct for pod, n in lines.pods.items()}
    reported = _dropped(kubectl, namespace)
    print(f"buffer full: {lines.written} lines written, lost per pod {lost}, reported {reported}")
    # Bounded: only the pod that flooded while the buffer was full lost lines, and not all.
    assert {pod for pod, n in lost.items() if n} <= flooding, lost
    assert all(lost[pod] < (lines.pods[pod].written or 0) for pod in flooding), lines
    eventually(
        "the LogPipeline counts exactly the lines missing from the store",
        lambda: _dropped(kubectl, namespace) == lines.lost,
        RECOVERY_TIMEOUT,
    )
    chaos_outcome.written = lines.written
    chaos_outcome.lost = lines.lost
    chaos_outcome.duplicated = lines.duplicated
    chaos_outcome.reported = _dropped(kubectl, namespace)
    assert lines.lost > 0, "the buffer never filled: the scenario did not test anything"
    assert lines.duplicated == 0, lines
    chaos_outcome.passed = True
