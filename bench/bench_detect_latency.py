"""Detection latency: the record that crosses a threshold is produced -> the Incident object is
readable from the apiserver.

Runs ONE `logsentinel processor` process in Kubernetes mode against the local stack (Kafka,
PostgreSQL, kube-apiserver), with a threshold DetectionRule applied as a custom resource. Then,
bursts times: produce count-1 error lines for a fresh service (its own fingerprint, so every
burst opens a new incident), wait until the processor has stored them, produce the crossing line
and stamp the time, and take the time the Incident appears on a watch of the apiserver.
Uses the local stack (make up; or LOGSENTINEL_DATABASE_URL / LOGSENTINEL_KAFKA_BOOTSTRAP /
KUBECONFIG).
Last line: RESULT detect_latency_p50_ms=<a> detect_latency_p99_ms=<b>
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from benchkit import fresh_database, kubectl, percentile, say, wait_for  # noqa: E402

from devstack.kube import namespace_manifest  # noqa: E402
from sampledata import fluent_bit_value  # noqa: E402

THRESHOLD = 5


def rule_manifest(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": "bench-burst", "namespace": namespace},
            "spec": {
                "match": {"levels": ["error"]},
                "detector": {
                    "type": "threshold",
                    "threshold": {"count": THRESHOLD, "window": "1m"},
                },
                "severity": "high",
                "incidentType": "ErrorBurst",
            },
        }
    )


class IncidentWatch:
    """Records when each service's first Incident is seen on a watch of the namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(30):
            raise SystemExit("could not start a watch on incidents")

    def _run(self) -> None:
        api = client.CustomObjectsApi()
        while not self._stop:
            listed = api.list_namespaced_custom_object(
                "logsentinel.io", "v1alpha1", self.namespace, "incidents"
            )
            version = listed["metadata"]["resourceVersion"]
            self.ready.set()
            stream = watch.Watch().stream(
                api.list_namespaced_custom_object,
                "logsentinel.io",
                "v1alpha1",
                self.namespace,
                "incidents",
                resource_version=version,
                timeout_seconds=300,
            )
            for event in stream:
                arrived = time.monotonic()
                obj: Any = event["object"]
                service = obj.get("spec", {}).get("service")
                if event["type"] == "ADDED" and service and service not in self.seen:
                    self.seen[service] = arrived
                if self._stop:
                    return

    def stop(self) -> None:
        self._stop = True


def stored(url: str, service: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM logs WHERE service = %s", (service,)
        ).fetchone()
        return int(row[0]) if row else 0


def error_line(namespace: str, service: str, n: int) -> bytes:
    line = json.dumps({"level": "error", "msg": f"request {n} failed: upstream timeout"})
    return fluent_bit_value(namespace=namespace, service=service, log=line, when=datetime.now(UTC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", type=int, default=100)
    args = parser.parse_args()
    database = os.environ.get("LOGSENTINEL_DATABASE_URL")
    bootstrap = os.environ.get("LOGSENTINEL_KAFKA_BOOTSTRAP")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not database or not bootstrap or not kubeconfig:
        raise SystemExit('start the stack first: make up && eval "$(make -s env)"')
    config.load_kube_config(kubeconfig)
    run = uuid.uuid4().hex[:6]
    namespace, topic = f"bench-detect-{run}", f"bench-detect-{run}"
    say(f"cpu count {os.cpu_count()}, {args.bursts} bursts of {THRESHOLD} errors")

    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    # The workloads use images that do not exist: their pods go to the kwok Nodes.
    kubectl("create", "-f", "-", stdin=namespace_manifest(namespace, kwok=True))
    kubectl("apply", "-f", "-", stdin=rule_manifest(namespace))
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    url = fresh_database(database, "bench_detect")

    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": url,
        "LOGSENTINEL_KAFKA_BOOTSTRAP": bootstrap,
        "LOGSENTINEL_KAFKA_TOPIC": topic,
        "LOGSENTINEL_KAFKA_GROUP": f"bench-detect-{run}",
        "LOGSENTINEL_METRICS_PORT": "0",
        "LOGSENTINEL_MIGRATE_ON_START": "false",
        "LOGSENTINEL_KUBERNETES": "true",
        "LOGSENTINEL_RULES_NAMESPACE": namespace,
        "LOGSENTINEL_LOG_LEVEL": "warning",
    }
    processor = subprocess.Popen(
        [sys.executable, "-m", "logsentinel.cli", "processor"], env=environment
    )
    incidents = IncidentWatch(namespace)
    incidents.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    latencies: list[float] = []
    try:
        warm = "warmup"
        for n in range(THRESHOLD):
            producer.produce(
                topic, key=f"{namespace}/{warm}".encode(), value=error_line(namespace, warm, n)
            )
        producer.flush(10)
        wait_for(
            "the processor to start and detect a first burst", lambda: warm in incidents.seen, 120
        )
        for burst in range(args.bursts):
            service = f"svc-{burst:03d}"
            key = f"{namespace}/{service}".encode()
            for n in range(THRESHOLD - 1):
                producer.produce(topic, key=key, value=error_line(namespace, service, n))
            producer.flush(10)
            wait_for(
                f"{service}'s first lines stored",
                lambda s=service: stored(url, s) == THRESHOLD - 1,
                30,
            )  # type: ignore[misc]
            producer.produce(topic, key=key, value=error_line(namespace, service, THRESHOLD))
            produced = time.monotonic()
            producer.flush(10)
            wait_for(f"{service}'s incident", lambda s=service: s in incidents.seen, 30)  # type: ignore[misc]
            latencies.append((incidents.seen[service] - produced) * 1000)
            if (burst + 1) % 10 == 0:
                say(
                    f"{burst + 1}/{args.bursts} bursts, p50 so far "
                    f"{statistics.median(latencies):.0f} ms"
                )
    finally:
        incidents.stop()
        processor.terminate()
        processor.wait(60)
        kubectl("delete", "namespace", namespace, "--wait=false")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    say(f"min {min(latencies):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)} bursts")
    print(f"RESULT detect_latency_p50_ms={p50:.0f} detect_latency_p99_ms={p99:.0f}")


if __name__ == "__main__":
    main()
