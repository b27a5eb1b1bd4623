"""Helpers of the chaos suite (tests/chaos): the running chain of a scenario, its outcome, the
pipeline's pods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from devstack.kube import REAL_NODE
from devstack.pytest_plugin import Kubectl
from logsentinel.storage.urls import libpq_url
from support.chain import pod_names, total_stored
from support.operator import get_json
from support.running import eventually

LINES_PER_SECOND = 50
PROCESSORS = 2


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
            stored = dict(
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


def component_pods(kubectl: Kubectl, namespace: str, component: str) -> list[dict[str, Any]]:
    """The pipeline's running pods of one component (collector, processor), on the real node."""
    pods = get_json(
        kubectl, "pods", "-n", namespace, "-l", f"app.kubernetes.io/component={component}"
    )["items"]
    return [
        pod
        for pod in pods
        if pod["spec"].get("nodeName") == REAL_NODE and "deletionTimestamp" not in pod["metadata"]
    ]


def ready_count(kubectl: Kubectl, namespace: str, component: str) -> int:
    """How many of the component's pods have every container ready."""
    ready = 0
    for pod in component_pods(kubectl, namespace, component):
        statuses = pod["status"].get("containerStatuses") or []
        ready += bool(statuses) and all(status.get("ready") for status in statuses)
    return ready
