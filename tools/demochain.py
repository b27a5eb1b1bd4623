"""The last step of `make demo`: the whole chain with real pods on the stack's real node, the
narrated version of tests/node/test_chain.py.

The chart's operator runs in namespace demo-chain; it deploys the OpenTelemetry Collector agent
and a processor from the LogPipeline example; the sample app runs v1, then the failing v2 is
rolled out; its error lines travel stdout -> log file -> collector -> Kafka -> processor, the
rule opens an Incident, the playbook rolls the Deployment back and verifies on the same signal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from devstack import images, kubebuild
from devstack.component import Component
from devstack.kafka import POD_BOOTSTRAP_VAR
from devstack.kube import namespace_manifest
from devstack.node import Node
from devstack.postgres import POD_DATABASE_VAR
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.chain import (  # noqa: E402
    APP,
    apply,
    first_error_at,
    images_of,
    incident_times,
    pod_names,
    rule_and_playbook,
    sample_app,
    start_pipeline,
    stored_lines,
)
from support.node import CHART, chart_values  # noqa: E402

NAMESPACE = "demo-chain"
DATABASE = "logsentinel_chain"
RELEASE = "demo-chain"


class Runner:
    """kubectl or helm on the stack's kubeconfig, callable like the tests' runners."""

    def __init__(self, tool: str, kubeconfig: str) -> None:
        self.binary = str(kubebuild.binary(tool))
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, check=False, timeout=timeout,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise SystemExit(f"{Path(self.binary).name} {' '.join(args)} failed:\n{done.stderr}")
        return done


def wait(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll ``check`` until true; the seconds it took. Stops the demo naming what did not
    happen."""
    started = time.monotonic()
    print(f"   waiting: {what} ...", flush=True)
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.5)  # polling a condition with a deadline, shown to a person
    return time.monotonic() - started


def show(kubectl: Runner, *args: str) -> None:
    print(f"$ kubectl {' '.join(args)}")
    print(kubectl(*args, check=False).stdout.rstrip())


def run(components: dict[str, Component], kubeconfig: str) -> None:
    kubectl, helm = Runner("kubectl", kubeconfig), Runner("helm", kubeconfig)
    server = components["postgres"].external() or components["postgres"].address()
    pod_server = components["postgres"].exports().get(POD_DATABASE_VAR)
    pod_kafka = components["kafka"].exports().get(POD_BOOTSTRAP_VAR)
    if not pod_server or not pod_kafka:
        raise SystemExit("the stack has no pod network (the real node needs root): make up")
    with psycopg.connect(libpq_url(server), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    database = libpq_url(server).rsplit("/", 1)[0] + f"/{DATABASE}"
    migrate.upgrade(database)
    pod_database = libpq_url(pod_server).rsplit("/", 1)[0] + f"/{DATABASE}"

    print("images (cached after the first build): product, collector agent, sample app")
    base = images.build_base()
    tags = [images.build_logsentinel(base), images.build_otelcol(base)]
    good, bad = images.build_sample_app(base)
    if not Node().external():
        Node().import_images([*tags, good, bad])
    product, agent = tags

    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=120s")
    kubectl("create", "-f", "-", stdin=namespace_manifest(NAMESPACE, kwok=False))
    print(f"$ helm install {RELEASE} charts/logsentinel -n {NAMESPACE} --set api.enabled=false")
    helm("install", RELEASE, str(CHART), "-n", NAMESPACE,
         *chart_values(product, pod_database, NAMESPACE, default_rules=True),
         "--set", "api.enabled=false",
         "--wait", "--timeout=180s", timeout=240)  # fmt: skip

    print("the chart installed the default rule pack (rules/default):")
    show(kubectl, "get", "detectionrules", "-n", NAMESPACE)
    print("$ kubectl apply -f examples/logpipeline-otel-collector.yaml "
          "-f examples/rules/threshold-payment-failures.yaml "
          "-f examples/playbooks/auto-rollback.yaml")  # fmt: skip
    start_pipeline(kubectl, NAMESPACE, wait, database_url=pod_database, agent_image=agent,
                   processor_image=product, kafka=pod_kafka)  # fmt: skip
    for document in rule_and_playbook(NAMESPACE):
        apply(kubectl, document)
    show(kubectl, "get", "pods", "-n", NAMESPACE, "-o", "wide")

    print(f"\n$ kubectl apply -f images/sample-app/deployment.yaml   ({good})")
    apply(kubectl, sample_app(NAMESPACE, good))
    wait("v1 Running", lambda: images_of(kubectl, NAMESPACE) == {good}, 120)
    seen = pod_names(kubectl, NAMESPACE)
    wait("v1's lines in PostgreSQL",
         lambda: sum(p.stored for p in stored_lines(database, NAMESPACE).values()) >= 20,
         120)  # fmt: skip
    print(f"\n$ kubectl set image deployment/{APP} app={bad} -n {NAMESPACE}   (the bad rollout)")
    kubectl("set", "image", f"deployment/{APP}", f"app={bad}", "-n", NAMESPACE)
    wait("v2 Running", lambda: bad in images_of(kubectl, NAMESPACE), 120)
    seen |= pod_names(kubectl, NAMESPACE)
    rule_name = rule_and_playbook(NAMESPACE)[0]["metadata"]["name"]
    wait("the rule's Incident", lambda: bool(_incidents(kubectl, rule_name)), 120)
    incident = _incidents(kubectl, rule_name)[0]
    incident_name = incident["metadata"]["name"]
    first_error = first_error_at(database, NAMESPACE)
    opened, _ = incident_times(database, incident_name)
    if first_error is not None and opened is not None:
        seconds = (opened - first_error).total_seconds()
        print(f"   opened {seconds:.1f} s after v2 wrote its first failed payment")
    show(kubectl, "get", "incidents", "-n", NAMESPACE)

    wait("the operator's rollback: pods on v1 again",
         lambda: images_of(kubectl, NAMESPACE) == {good}, 240)  # fmt: skip
    seen |= pod_names(kubectl, NAMESPACE)
    show(kubectl, "rollout", "history", f"deployment/{APP}", "-n", NAMESPACE)
    wait("verification on the same log signal: the Incident Resolved",
         lambda: _phase(kubectl, incident_name) == "Resolved", 300)  # fmt: skip
    show(kubectl, "get", "incidents", "-n", NAMESPACE)
    status = json.loads(
        kubectl("get", "incident", incident_name, "-n", NAMESPACE, "-o", "json").stdout
    )["status"]
    for action in status.get("actions", []):
        print(f"   {action['step']:<10} {action['result']:<10} {action['message'][:100]}")

    kubectl("scale", f"deployment/{APP}", "--replicas=0", "-n", NAMESPACE)
    wait("every pod's last line (its count) stored",
         lambda: all(
             (line := stored_lines(database, NAMESPACE).get(pod)) is not None and line.written
             for pod in seen
         ), 120)  # fmt: skip
    lines = stored_lines(database, NAMESPACE)
    written = sum(line.written or 0 for line in lines.values())
    stored = sum(line.stored for line in lines.values())
    lost = sum((line.written or 0) - line.distinct for line in lines.values())
    print(f"\nthe app's {len(lines)} pods wrote {written} lines; stored {stored}; "
          f"lost {lost}; stored twice {stored - (written - lost)}")  # fmt: skip
    for kind in ("incidents", "playbooks", "detectionrules", "logpipelines"):
        kubectl("delete", kind, "--all", "-n", NAMESPACE, "--timeout=60s", check=False)
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
    kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
    print(f"at {datetime.now(UTC):%H:%M:%S} the demo namespace {NAMESPACE} is being deleted")


def _incidents(kubectl: Runner, rule: str) -> list[dict[str, Any]]:
    """The demo namespace's Incidents opened by rule (the default pack may open others)."""
    listing = kubectl("get", "incidents", "-n", NAMESPACE, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(listing)["items"]
    return [item for item in items if item["spec"]["rule"] == rule]


def _phase(kubectl: Runner, name: str) -> str | None:
    document = json.loads(kubectl("get", "incident", name, "-n", NAMESPACE, "-o", "json").stdout)
    phase = (document.get("status") or {}).get("phase")
    return str(phase) if phase else None
