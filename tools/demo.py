"""`make demo`: what Log Sentinel does today, end to end on the local stack.

1. start PostgreSQL, Kafka and the Kubernetes control plane (built on first use);
2. install the generated CRDs and apply every example; list them with kubectl;
3. show the apiserver rejecting an invalid rule, naming the field;
4. send sample container logs (Fluent Bit's Kafka shape, plus a few broken ones) through a real
   processor into PostgreSQL and summarise what was stored and dead-lettered;
5. the processor evaluates the example DetectionRules it watches on the apiserver: show the
   Incidents it opened (kubectl get incidents) and the evidence of one;
6. the operator judges the rules and playbooks (Ready) and runs the matching playbook on each
   incident: the on-call webhook (a local receiver here) is notified, and the restart is refused
   by a guard because the sample services have no workload in this cluster;
7. the API: log in as the bootstrap admin, create an ingest key, send records (a Kafka
   transaction; the processor stores them), search them, list the incidents;
8. the whole chain with real pods on the real node (demochain.py): the chart's operator, the
   OpenTelemetry Collector agent, a bad rollout of the sample app detected from its logs,
   rolled back, verified and Resolved; every line the app wrote stored exactly once.
The stack keeps running afterwards (make down stops it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

import demochain
from devstack import kubebuild, stack
from devstack.kube import namespace_manifest
from devstack.proc import free_port
from logsentinel.processors import kafka
from logsentinel.processors.main import build
from logsentinel.processors.settings import ProcessorSettings
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from sampledata import fluent_bit_value, sample_logs

REPO = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = 5000
STEPS = 8
BROKEN_RULE = """
apiVersion: logsentinel.io/v1alpha1
kind: DetectionRule
metadata: {name: broken, namespace: shop}
spec:
  detector: {type: threshold, ratio: {above: 0.5}}
  severity: high
  incidentType: Broken
"""


DEMO_DATABASE = "logsentinel_demo"


def demo_database_url(server_url: str) -> str:
    """The demo's own database on the stack's PostgreSQL (`make dashboard` shows it too)."""
    return libpq_url(server_url).rsplit("/", 1)[0] + f"/{DEMO_DATABASE}"


def step(number: int, title: str) -> None:
    print(f"\n== {number}/{STEPS} {title}", flush=True)


def main() -> int:
    step(1, "local stack (the first run builds Kubernetes, the node and images: 15-30 min, once)")
    components = {component.name: component for component in stack.select([])}
    for component in components.values():
        if not component.external():
            component.start()
    database = components["postgres"].external() or components["postgres"].address()
    bootstrap = components["kafka"].external() or components["kafka"].address()
    kubeconfig = components["kube"].external() or components["kube"].address()

    def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [str(kubebuild.binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout + done.stderr

    step(2, "CRDs generated from the domain models, and the examples")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    namespaces = sorted(
        {
            document["metadata"]["name"]
            for document in yaml.safe_load_all((REPO / "examples/00-namespaces.yaml").read_text())
        }
    )
    for namespace in namespaces:
        # The demo's workloads and agents use images that cannot be pulled here: their pods go
        # to the kwok Nodes, which run no container.
        kubectl("create", "-f", "-", stdin=namespace_manifest(namespace, kwok=True), check=False)
    kubectl("apply", "--recursive", "-f", str(REPO / "examples"))
    print(kubectl("get", "sentinel", "--all-namespaces"))

    step(3, "an invalid rule is refused by the apiserver, with the field named")
    print("$ kubectl apply -f broken-rule.yaml")
    print(kubectl("apply", "-f", "-", stdin=BROKEN_RULE, check=False).strip())

    step(4, f"{SAMPLE_LOGS} container logs through Kafka and a processor into PostgreSQL")
    with psycopg.connect(libpq_url(database), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DEMO_DATABASE}")
    demo_database = demo_database_url(database)
    migrate.upgrade(demo_database)
    topic = f"demo-logs-{uuid.uuid4().hex[:6]}"
    producer = kafka.producer(bootstrap)
    logs = list(sample_logs(SAMPLE_LOGS))
    for log in logs:
        producer.produce(topic, key=log.key, value=log.value)
        producer.poll(0)
    now_log = logs[0].value
    broken = [b"{not json", now_log.replace(b'"namespace_name":"shop",', b"")]
    oversized = fluent_bit_value(
        namespace="shop", service="api", log="x" * 300_000, when=datetime.now(UTC)
    )
    broken.append(oversized)
    for value in broken:
        producer.produce(topic, value=value)
    producer.flush(30)
    print(f"produced {len(logs)} records (+{len(broken)} broken ones) to topic {topic}")

    processor = build(
        ProcessorSettings(
            database_url=demo_database,
            kafka_bootstrap=bootstrap,
            kafka_topic=topic,
            kafka_group=f"demo-{topic}",
            dead_letter_topic=f"{topic}-dead-letters",
            kubernetes=True,
            kubeconfig=kubeconfig,
            rules_namespace="shop",
            metrics_port=0,
        )
    )
    runner = threading.Thread(target=processor.run)
    runner.start()
    expected = len(logs) + len(broken)
    deadline = time.monotonic() + 120
    with psycopg.connect(demo_database, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM logs) + (SELECT count(*) FROM dead_letters)"
            ).fetchone()
            if row and row[0] >= expected:
                break
            time.sleep(0.2)  # polling a condition with a deadline, shown to a person
        print("\nstored logs by service and level:")
        for service, level, count in connection.execute(
            "SELECT service, level, count(*) FROM logs GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            print(f"  {service:<12} {level:<8} {count:>6}")
        print("\nmost frequent templates:")
        for template, count, example in connection.execute(
            "SELECT template_id, count(*), min(message) FROM logs "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
        ):
            print(f"  {template} {count:>6}  e.g. {example[:70]}")
        print("\ndead letters (kept with their reason; the partition moved on):")
        for reason, detail in connection.execute("SELECT reason, detail FROM dead_letters"):
            print(f"  {reason:<12} {detail[:90]}")
    step(5, "rules fired: Incidents opened by the processor, with evidence")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "No resources" in kubectl(
        "get", "incidents", "-n", "shop"
    ):
        time.sleep(0.5)  # polling a condition with a deadline, shown to a person
    print("$ kubectl get incidents -n shop")
    print(kubectl("get", "incidents", "-n", "shop"))
    print("$ kubectl get detectionrules -n shop")
    print(kubectl("get", "detectionrules", "-n", "shop"))
    names = kubectl("get", "incidents", "-n", "shop", "-o", "name").split()
    if names:
        print(
            f"$ kubectl get {names[0]} -n shop -o yaml   (the spec: what fired, and the evidence)"
        )
        incident = yaml.safe_load(kubectl("get", names[0], "-n", "shop", "-o", "yaml"))
        spec = incident["spec"]
        print(f"  summary: {spec.get('summary')}")
        window = spec.get("evidence", {}).get("window", {})
        statistic, value = window.get("statistic"), window.get("value")
        print(f"  window: {statistic} = {value} (threshold {window.get('threshold')})")
        for sample in spec.get("evidence", {}).get("samples", [])[:3]:
            print(f"  sample: {sample['message'][:90]}")
    step(6, "the operator: Ready conditions, and the matching playbook run on each incident")
    receiver = Receiver()
    kubectl("delete", "secret", "oncall-webhook", "-n", "shop", check=False)
    kubectl(
        "create",
        "secret",
        "generic",
        "oncall-webhook",
        "-n",
        "shop",
        f"--from-literal=url={receiver.url}",
    )
    kubectl("apply", "-f", "-", stdin=PEERING)
    operator = subprocess.Popen(
        [sys.executable, "-m", "logsentinel.cli", "operator"],
        env={
            **os.environ,
            "LOGSENTINEL_DATABASE_URL": demo_database,
            "LOGSENTINEL_KUBECONFIG": kubeconfig,
            "LOGSENTINEL_NAMESPACES": '["shop"]',
            "LOGSENTINEL_CENTRAL_NAMESPACE": "shop",
            "LOGSENTINEL_METRICS_PORT": "0",
            "LOGSENTINEL_HEALTH_PORT": "0",
            # The local on-call receiver is on loopback, which notifications may not reach
            # unless allowed (docs/remediation.md, Notifications).
            "LOGSENTINEL_NOTIFY_ALLOWED_TARGETS": '["127.0.0.1"]',
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all_handled(kubectl):
        time.sleep(0.5)  # polling a condition with a deadline, shown to a person
    print("$ kubectl get detectionrules,playbooks -n shop   (Ready: judged by the operator)")
    print(kubectl("get", "detectionrules,playbooks", "-n", "shop"))
    print("$ kubectl get incidents -n shop")
    print(kubectl("get", "incidents", "-n", "shop"))
    if names:
        status = yaml.safe_load(kubectl("get", names[0], "-n", "shop", "-o", "yaml")).get(
            "status", {}
        )
        print(f"{names[0]}: playbook {status.get('playbook')}, phase {status.get('phase')}")
        for action in status.get("actions", []):
            guard = f" [guard {action['guard']}]" if action.get("guard") else ""
            print(f"  {action['step']:<14} {action['result']:<10}{guard} {action['message'][:90]}")
    print(f"webhook notifications received by the local receiver: {len(receiver.bodies)}")
    step(7, "the API: log in, ingest through Kafka, search, incidents")
    show_api(demo_database, bootstrap, topic, kubeconfig)
    # Delete the incidents while the operator runs: it releases their finalizers.
    kubectl("delete", "incidents", "--all", "-n", "shop", "--timeout=60s", check=False)
    operator.terminate()
    operator.wait(30)
    receiver.close()
    processor.stop()
    runner.join(60)
    step(8, "the whole chain on real pods: a bad rollout detected, rolled back and verified")
    demochain.run(components, kubeconfig)
    print('\nThe stack keeps running: eval "$(make -s env)" for kubectl; make down stops it.')
    return 0


def show_api(database: str, bootstrap: str, topic: str, kubeconfig: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = ("demo-admin", "demo-admin-password-1")
    api = subprocess.Popen(
        [sys.executable, "-m", "logsentinel.cli", "api"],
        env={
            **os.environ,
            "LOGSENTINEL_DATABASE_URL": database,
            "LOGSENTINEL_JWT_SECRET": uuid.uuid4().hex * 2,
            "LOGSENTINEL_ADMIN_USERNAME": admin[0],
            "LOGSENTINEL_ADMIN_PASSWORD": admin[1],
            "LOGSENTINEL_KAFKA_BOOTSTRAP": bootstrap,
            "LOGSENTINEL_KAFKA_TOPIC": topic,
            "LOGSENTINEL_KUBERNETES": "true",
            "LOGSENTINEL_KUBECONFIG": kubeconfig,
            "LOGSENTINEL_HOST": "127.0.0.1",
            "LOGSENTINEL_PORT": str(port),
            "LOGSENTINEL_LOG_LEVEL": "warning",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/readyz"):
            if time.monotonic() > deadline or api.poll() is not None:
                print("the API did not become ready")
                return
            time.sleep(0.2)  # polling a condition with a deadline, shown to a person
        print(f"logsentinel api on {base} (OpenAPI: {base}/docs)")
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": admin[0], "password": admin[1]}
        ).json()["access_token"]
        user = {"Authorization": f"Bearer {token}"}
        key = httpx.post(f"{base}/api/v1/api-keys", json={"name": "demo"}, headers=user).json()
        print(f"$ POST /api/v1/api-keys -> ingest key {key['id']} (the secret is shown once)")
        stamp = datetime.now(UTC).isoformat()
        lines = [
            {
                "timestamp": stamp,
                "level": "error",
                "message": f"payment {n} declined by card issuer",
                "service": "payments",
                "namespace": "shop",
            }
            for n in range(20)
        ] + [{"message": "no timestamp, no service"}]
        body = "\n".join(json.dumps(line) for line in lines)
        answer = httpx.post(
            f"{base}/api/v1/ingest",
            content=body,
            headers={"X-API-Key": key["key"], "Content-Type": "application/x-ndjson"},
        )
        print(
            f"$ POST /api/v1/ingest (21 NDJSON lines) -> {answer.status_code} {answer.text[:160]}"
        )
        deadline = time.monotonic() + 30
        found: dict[str, Any] = {"items": []}
        while len(found["items"]) < 3 and time.monotonic() < deadline:
            found = httpx.get(
                f"{base}/api/v1/logs", params={"q": "declined", "limit": 3}, headers=user
            ).json()
            time.sleep(0.2)  # polling a condition with a deadline, shown to a person
        print("$ GET /api/v1/logs?q=declined&limit=3   (stored by the processor)")
        for item in found["items"]:
            print(
                f"  {item['timestamp']} {item['service']:<9} {item['level']:<6} {item['message']}"
            )
        incidents = httpx.get(
            f"{base}/api/v1/incidents", params={"namespace": "shop"}, headers=user
        ).json()
        print(f"$ GET /api/v1/incidents?namespace=shop -> {len(incidents)} incidents")
        for incident in incidents[:3]:
            print(f"  {incident['name']:<40} {incident['severity']:<8} {incident['phase']}")
    finally:
        api.terminate()
        api.wait(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


PEERING = """
apiVersion: kopf.dev/v1
kind: KopfPeering
metadata: {name: logsentinel, namespace: shop}
"""


def all_handled(kubectl: Any) -> bool:
    """Every incident a playbook triggers on has left Open or has recorded actions."""
    playbooks = yaml.safe_load(kubectl("get", "playbooks", "-n", "shop", "-o", "yaml"))["items"]
    handled: set[str] = set()
    for playbook in playbooks:
        types = playbook["spec"].get("triggers", {}).get("incidentTypes") or ["*"]
        handled.update(types)
    incidents = yaml.safe_load(kubectl("get", "incidents", "-n", "shop", "-o", "yaml"))["items"]

    def still_running(incident: dict[str, Any]) -> bool:
        status = incident.get("status") or {}
        actions = status.get("actions") or []
        return status.get("phase") in (None, "Open", "Remediating") and (
            not actions
            or any(a["result"] == "Pending" for a in actions)
            or status.get("phase") == "Remediating"
        )

    waiting = [
        i
        for i in incidents
        if ("*" in handled or i["spec"]["incidentType"] in handled) and still_running(i)
    ]
    return bool(incidents) and not waiting


class Receiver:
    """A local stand-in for the on-call channel's webhook."""

    def __init__(self) -> None:
        bodies: list[Any] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.bodies = bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/oncall"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
