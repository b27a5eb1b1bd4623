"""The whole chain on the real node, shared by its test and `make bench-chain`: the sample app
deployed, a LogPipeline with the OpenTelemetry Collector agent, the payment-failures rule and
the auto-rollback playbook, all in one namespace; and the accounting of the app's lines."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import yaml

from devstack.pytest_plugin import Kubectl
from logsentinel.storage.urls import libpq_url
from support.node import REPO, example

APP = "payment-worker"
DEPLOYMENT = REPO / "images" / "sample-app" / "deployment.yaml"


def apply(kubectl: Kubectl, document: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps(document))


def sample_app(namespace: str, image: str, lines_per_second: int | None = None) -> dict[str, Any]:
    """images/sample-app/deployment.yaml in ``namespace`` running ``image``."""
    document: dict[str, Any] = yaml.safe_load(DEPLOYMENT.read_text())
    document["metadata"]["namespace"] = namespace
    container = document["spec"]["template"]["spec"]["containers"][0]
    container["image"] = image
    if lines_per_second is not None:
        container["env"] = [{"name": "LINES_PER_SECOND", "value": str(lines_per_second)}]
    return document


def otel_pipeline(
    namespace: str, *, agent_image: str, processor_image: str, kafka: str, processors: int = 1
) -> dict[str, Any]:
    """The collector example, in ``namespace``, on a fresh topic, with one processor; the
    buffer directory is the namespace's own (another test's collector may have used one)."""
    pipeline = example("logpipeline-otel-collector.yaml", namespace)
    spec = pipeline["spec"]
    spec["agent"]["image"] = agent_image
    spec["agent"]["inputs"]["excludeNamespaces"] = ["kube-system"]
    spec["buffer"]["hostPath"]["path"] = f"/var/lib/logsentinel/test-{namespace}"
    spec["kafka"] = {
        "bootstrapServers": [kafka],
        "topic": f"chain-{uuid.uuid4().hex[:8]}",
        "partitions": 2,
    }
    spec["processors"].update(
        image=processor_image,
        replicas=processors,
        databaseSecretRef={"name": "database", "key": "url"},
    )
    return pipeline


def rule_and_playbook(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    rule = example("rules/threshold-payment-failures.yaml", namespace)
    playbook = example("playbooks/auto-rollback.yaml", namespace)
    playbook["spec"]["triggers"]["selector"]["namespaces"] = [namespace]
    playbook["spec"]["guards"]["allowedNamespaces"] = [namespace]
    return rule, playbook


def images_of(kubectl: Kubectl, namespace: str) -> set[str]:
    """The images the sample app's running pods run."""
    pods = kubectl("get", "pods", "-n", namespace, "-l", f"app={APP}", "-o", "json").stdout
    return {
        pod["spec"]["containers"][0]["image"]
        for pod in json.loads(pods)["items"]
        if pod["status"].get("phase") == "Running" and "deletionTimestamp" not in pod["metadata"]
    }


def total_stored(database_url: str, namespace: str) -> int:
    return sum(line.stored for line in stored_lines(database_url, namespace).values())


def pod_names(kubectl: Kubectl, namespace: str) -> set[str]:
    pods = kubectl("get", "pods", "-n", namespace, "-l", f"app={APP}", "-o", "json").stdout
    return {pod["metadata"]["name"] for pod in json.loads(pods)["items"]}


@dataclass(frozen=True)
class PodLines:
    """What the store holds of one pod's lines."""

    stored: int
    distinct: int
    written: int | None
    """The pod's own count (its last line's seq), once that line is stored."""


def stored_lines(database_url: str, namespace: str) -> dict[str, PodLines]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT pod, count(*), count(DISTINCT attributes->>'seq'), "
            "max(CASE WHEN attributes->>'last' = 'true' THEN (attributes->>'seq')::int END) "
            "FROM logs WHERE namespace = %s AND service = %s GROUP BY pod",
            (namespace, APP),
        ).fetchall()
    return {str(pod): PodLines(int(n), int(d), w) for pod, n, d, w in rows}


def duplicated_positions(database_url: str, namespace: str, limit: int = 5) -> list[str]:
    """Lines of the app stored more than once, each with its Kafka positions: the same position
    twice means the store repeated a record, distinct ones that the agent sent it twice."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT pod, attributes->>'seq', array_agg(source_partition || ':' || source_offset) "
            "FROM logs WHERE namespace = %s AND service = %s "
            "GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 2::int LIMIT %s",
            (namespace, APP, limit),
        ).fetchall()
    return [f"{pod} seq {seq} at {', '.join(positions)}" for pod, seq, positions in rows]


def first_error_at(database_url: str, namespace: str) -> datetime | None:
    """When the app wrote its first failed payment (the app's own time, kept by the parser)."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "SELECT min(ts) FROM logs WHERE namespace = %s AND service = %s AND level = 'error'",
            (namespace, APP),
        ).fetchone()
    return row[0] if row else None


def incident_times(database_url: str, name: str) -> tuple[datetime | None, datetime | None]:
    """(opened, resolved) of the Incident ``name`` as the database recorded them (microseconds;
    the object's creationTimestamp has whole seconds only)."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "SELECT opened_at, resolved_at FROM incidents WHERE name = %s", (name,)
        ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def one_record(database_url: str, namespace: str) -> dict[str, Any]:
    """The workload identity of one stored line of the sample app."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "SELECT pod, container, node, stream, service, level, message "
            "FROM logs WHERE namespace = %s AND service = %s LIMIT 1",
            (namespace, APP),
        ).fetchone()
    assert row is not None, "no stored line of the sample app"
    keys = ("pod", "container", "node", "stream", "service", "level", "message")
    return dict(zip(keys, row, strict=True))


@dataclass(frozen=True)
class Accounting:
    """The sample app's lines at the end of a run: per pod, and the totals."""

    pods: dict[str, PodLines]

    @property
    def written(self) -> int:
        return sum(line.written or 0 for line in self.pods.values())

    @property
    def lost(self) -> int:
        return sum((line.written or 0) - line.distinct for line in self.pods.values())

    @property
    def duplicated(self) -> int:
        return sum(line.stored - line.distinct for line in self.pods.values())


def account_lines(
    kubectl: Kubectl,
    database_url: str,
    namespace: str,
    seen: set[str],
    wait: Callable[[str, Callable[[], bool], float], None],
    timeout: float = 180,
) -> Accounting:
    """Stop the sample app (every pod writes its count as its last line), wait until each pod in
    ``seen`` has that line stored, and count what was lost and stored twice."""
    kubectl("scale", f"deployment/{APP}", "--replicas=0", "-n", namespace)

    def counted() -> dict[str, PodLines]:
        lines = stored_lines(database_url, namespace)
        return lines if all(lines.get(pod, PodLines(0, 0, None)).written for pod in seen) else {}

    wait("every pod's last line stored", lambda: bool(counted()), timeout)
    return Accounting(counted())


def start_pipeline(
    kubectl: Kubectl,
    namespace: str,
    wait: Callable[[str, Callable[[], bool], float], None],
    *,
    database_url: str,
    agent_image: str,
    processor_image: str,
    kafka: str,
    processors: int = 1,
) -> dict[str, Any]:
    """The database Secret and the collector pipeline in ``namespace``, waited for until Ready
    (agent and processors running); returns the pipeline. ``database_url``: as pods reach it."""
    kubectl("create", "secret", "generic", "database", "-n", namespace,
            f"--from-literal=url={database_url}")  # fmt: skip
    pipeline = otel_pipeline(
        namespace,
        agent_image=agent_image,
        processor_image=processor_image,
        kafka=kafka,
        processors=processors,
    )
    apply(kubectl, pipeline)
    name = pipeline["metadata"]["name"]

    def ready() -> bool:
        found = kubectl("get", "logpipeline", name, "-n", namespace, "-o", "json").stdout
        conditions = (json.loads(found).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait("the pipeline Ready (agent and processors running on the real node)", ready, 120)
    return pipeline
