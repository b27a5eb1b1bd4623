"""Helpers of the chaos suite (tests/chaos): the running chain of a scenario, its outcome, the
pipeline's pods."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from devstack.component import ServerComponent
from devstack.pytest_plugin import Kubectl
from logsentinel.storage.urls import libpq_url
from support.chain import account_lines, duplicated_positions, pod_names, total_stored
from support.node import pod_logs
from support.operator import get_json
from support.running import eventually

LINES_PER_SECOND = 50
PROCESSORS = 2
RECOVERY_TIMEOUT = 180
"""Seconds the chain gets to carry lines again after a fault."""


@dataclass
class Outcome:
    """What one scenario measured (printed as one line at the end of the run)."""

    passed: bool = False
    written: int = 0
    lost: int = 0
    duplicated: int = 0
    double_actions: int = 0
    recovery_s: float | None = None
    """Fault injected (or ended) -> the chain carries lines again / the backlog is stored."""
    peak_lag: int | None = None
    """The most records in Kafka not yet stored, where the scenario measures it."""
    reported: int | None = None
    """Lines the product reported dropped (the LogPipeline's status), where loss is expected."""


@dataclass
class Chain:
    """The running chain of one scenario."""

    namespace: str
    database_url: str
    seen: set[str]
    topic: str
    """The pipeline's Kafka topic."""
    kafka_bootstrap: str
    """Kafka as this host reaches it."""
    node: str
    """The node the chain's pods run on (the local stack's real node, or a Kind worker)."""

    def stored(self) -> int:
        return total_stored(self.database_url, self.namespace)

    def dead_letters(self) -> int:
        """Records of the pipeline's topic the processors set aside as unstorable."""
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            row = connection.execute(
                "SELECT count(*) FROM dead_letters WHERE source_topic = %s", (self.topic,)
            ).fetchone()
        return int(row[0]) if row else 0

    def lag(self) -> int:
        """Records in Kafka the processors have not stored yet: the topic's end offsets minus
        the offsets the processors committed with their rows (in PostgreSQL)."""
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            stored: dict[int, int] = dict(
                connection.execute(
                    "SELECT partition, next_offset FROM consumer_offsets WHERE topic = %s",
                    (self.topic,),
                ).fetchall()
            )
        consumer = Consumer(
            {"bootstrap.servers": self.kafka_bootstrap, "group.id": "chaos-lag-probe"}
        )
        try:
            partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            behind = 0
            for partition in partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=10
                )
                behind += high - max(low, int(stored.get(partition, 0)))
            return behind
        finally:
            consumer.close()

    def flowing(self, kubectl: Kubectl, more: int, timeout: float = 120) -> None:
        """Wait until ``more`` further lines are stored (the chain carries the app's lines)."""
        target = self.stored() + more
        eventually(f"{more} more lines stored", lambda: self.stored() >= target, timeout)
        self.seen |= pod_names(kubectl, self.namespace)

    def pods(self, kubectl: Kubectl, component: str) -> list[dict[str, Any]]:
        """The chain's live pods of one component (collector, processor, operator, api) on
        its node."""
        pods = get_json(
            kubectl, "pods", "-n", self.namespace, "-l", f"app.kubernetes.io/component={component}"
        )["items"]
        return [
            pod
            for pod in pods
            if pod["spec"].get("nodeName") == self.node
            and "deletionTimestamp" not in pod["metadata"]
        ]

    def ready(self, kubectl: Kubectl, component: str) -> int:
        """How many of the component's pods have every container ready."""
        ready = 0
        for pod in self.pods(kubectl, component):
            statuses = pod["status"].get("containerStatuses") or []
            ready += bool(statuses) and all(status.get("ready") for status in statuses)
        return ready

    def processor_logs(self, kubectl: Kubectl) -> str:
        """What the pipeline's processors logged, all of them."""
        return "".join(
            pod_logs(kubectl, self.namespace, pod["metadata"]["name"])
            for pod in self.pods(kubectl, "processor")
        )


def require_own(server: ServerComponent) -> None:
    """Scenarios that stop a server need the local stack's own (the address `make env` exports
    is its own; another is not ours to stop)."""
    elsewhere = server.external()
    if elsewhere and not (server.running() and elsewhere == server.address()):
        pytest.fail(f"this scenario stops the local stack's {server.name}; {elsewhere} is not it")


def recover(
    kubectl: Kubectl, chain: Chain, outcome: Outcome, component: str, replicas: int, started: float
) -> None:
    """After a pod of ``component`` went: its replacement Ready, lines flowing again (the
    recovery time, from ``started``), then every line accounted for."""
    eventually(
        f"{replicas} {component} pod(s) Ready again",
        lambda: chain.ready(kubectl, component) == replicas,
        RECOVERY_TIMEOUT,
    )
    chain.flowing(kubectl, LINES_PER_SECOND, RECOVERY_TIMEOUT)
    outcome.recovery_s = time.monotonic() - started
    settle(kubectl, chain, outcome)


def outage_stored(kubectl: Kubectl, chain: Chain, outcome: Outcome, outage_s: float) -> None:
    """Called when an outage ends: wait until as many lines as it held back are stored; the
    recovery time is measured from now."""
    started = time.monotonic()
    chain.flowing(kubectl, int(outage_s * LINES_PER_SECOND), RECOVERY_TIMEOUT)
    outcome.recovery_s = time.monotonic() - started


def settle(kubectl: Kubectl, chain: Chain, outcome: Outcome) -> None:
    """Lines flow again; stop the app, account for every line, record the outcome."""
    chain.flowing(kubectl, 5 * LINES_PER_SECOND, RECOVERY_TIMEOUT)
    lines = account_lines(kubectl, chain.database_url, chain.namespace, chain.seen, eventually)
    outcome.written += lines.written
    outcome.lost += lines.lost
    outcome.duplicated += lines.duplicated
    twice = duplicated_positions(chain.database_url, chain.namespace)
    assert (lines.lost, lines.duplicated) == (0, 0), (lines, twice)
    outcome.passed = True


INGEST_SERVICE = "ingest-client"
INGEST_BATCH = 50


@dataclass
class IngestClient:
    """Posts numbered records to the API's ingest endpoint in batches, one after another, as a
    careful sender does: a batch answered 202 is done; one that failed before an answer (the
    API gone, connection refused or reset) or was answered 503 is sent again, the same
    records. 504 (outcome unknown) is counted and not retried."""

    base_url: str
    token: str
    namespace: str
    accepted: list[int] = field(default_factory=list)
    retries: int = 0
    unknown: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-client", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _batch(self, first: int) -> list[dict[str, Any]]:
        now = datetime.now(UTC).isoformat()
        return [
            {
                "timestamp": now,
                "level": "info",
                "message": f"ingested record {seq}",
                "service": INGEST_SERVICE,
                "namespace": self.namespace,
                "attributes": {"seq": seq},
            }
            for seq in range(first, first + INGEST_BATCH)
        ]

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        first = 1
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                batch = self._batch(first)
                try:
                    answer = client.post("/api/v1/ingest", json=batch)
                except httpx.TransportError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    self.accepted.extend(range(first, first + INGEST_BATCH))
                    first += INGEST_BATCH
                elif answer is not None and answer.status_code == 504:
                    self.unknown += 1
                    first += INGEST_BATCH
                else:
                    self.retries += 1
                    self._stop.wait(0.2)  # the API is restarting: do not spin


def ingested(database_url: str, namespace: str) -> Counter[int]:
    """How many times each numbered record of the ingest client is stored."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT (attributes->>'seq')::int, count(*) FROM logs "
            "WHERE namespace = %s AND service = %s GROUP BY 1",
            (namespace, INGEST_SERVICE),
        ).fetchall()
    return Counter({int(seq): int(n) for seq, n in rows})
