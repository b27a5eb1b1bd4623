"""Remediation latency: an Incident is created -> the operator's rollout-restart patch of its
Deployment is accepted by the apiserver.

Runs ONE `logsentinel operator` process against the local stack (kube-apiserver with kwok
nodes, PostgreSQL), scoped to a fresh namespace holding `--deployments` Deployments (one pod
each) and an `auto` Playbook whose only step is rolloutRestart. A caught-up processor's
heartbeat is written every second (the pipeline-health guard reads it; no processor runs here,
this measures the operator). Then, one at a time, an Incident is created against the next
Deployment; its latency is the time from the create call returning to the watch of Deployments
delivering the object with the kubectl.kubernetes.io/restartedAt pod-template annotation.
Uses the local stack (make up; or LOGSENTINEL_DATABASE_URL and KUBECONFIG).
Last line: RESULT remediation_latency_p50_ms=<a> remediation_latency_p99_ms=<b>
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

from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from benchkit import Heartbeats, fresh_database, kubectl, percentile, say, wait_for  # noqa: E402

from devstack.kube import namespace_manifest  # noqa: E402

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def deployment(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }


def playbook(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": "restart-on-errors", "namespace": namespace},
        "spec": {
            "mode": "auto",
            "steps": [{"type": "rolloutRestart"}],
            "guards": {"maxActionsPerHour": 1000},
        },
    }


def incident(namespace: str, target: str) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": f"inc-{target}", "namespace": namespace},
        "spec": {
            "rule": "bench-errors",
            "incidentType": "ErrorBurst",
            "severity": "high",
            "fingerprint": uuid.uuid4().hex,
            "service": target,
            "target": {"kind": "Deployment", "namespace": namespace, "name": target},
            "firstSeen": stamp,
            "lastSeen": stamp,
        },
    }


class RestartWatch:
    """Records when each Deployment is first seen with the restartedAt annotation."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.restarted: dict[str, float] = {}
        self.ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(30):
            raise SystemExit("could not start a watch on deployments")

    def _run(self) -> None:
        apps = client.AppsV1Api()
        while not self._stop:
            listed = apps.list_namespaced_deployment(self.namespace)
            self.ready.set()
            stream = watch.Watch().stream(
                apps.list_namespaced_deployment,
                self.namespace,
                resource_version=listed.metadata.resource_version,
                timeout_seconds=300,
            )
            for event in stream:
                arrived = time.monotonic()
                obj: Any = event["object"]
                annotations = obj.spec.template.metadata.annotations or {}
                name = obj.metadata.name
                if RESTARTED_AT in annotations and name not in self.restarted:
                    self.restarted[name] = arrived
                if self._stop:
                    return

    def stop(self) -> None:
        self._stop = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between incidents")
    args = parser.parse_args()
    database = os.environ.get("LOGSENTINEL_DATABASE_URL")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not database or not kubeconfig:
        raise SystemExit("needs LOGSENTINEL_DATABASE_URL and KUBECONFIG: run `make up` first")
    config.load_kube_config(kubeconfig)
    run_id = uuid.uuid4().hex[:8]
    namespace = f"bench-remediate-{run_id}"
    url = fresh_database(database, f"bench_remediate_{run_id}")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    # The workloads use images that do not exist: their pods go to the kwok Nodes.
    kubectl("create", "-f", "-", stdin=namespace_manifest(namespace, kwok=True))
    kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "KopfPeering",
                "metadata": {"name": "logsentinel", "namespace": namespace},
            }
        ),
    )
    names = [f"svc-{index:03d}" for index in range(args.deployments)]
    items = [deployment(namespace, name) for name in [*names, "warm-up"]] + [playbook(namespace)]
    kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    say(f"{len(names)} Deployments and an auto rolloutRestart Playbook in {namespace}")
    kubectl(
        "wait",
        "--for=condition=Available",
        "--timeout=180s",
        "deployment",
        "--all",
        "-n",
        namespace,
    )
    say("Deployments available; starting the operator")
    heartbeats = Heartbeats(url)
    environment = dict(os.environ)
    environment.update(
        {
            "LOGSENTINEL_DATABASE_URL": url,
            "LOGSENTINEL_KUBECONFIG": kubeconfig,
            "LOGSENTINEL_NAMESPACES": json.dumps([namespace]),
            "LOGSENTINEL_CENTRAL_NAMESPACE": namespace,
            "LOGSENTINEL_METRICS_PORT": "0",
            "LOGSENTINEL_HEALTH_PORT": "0",
            "LOGSENTINEL_LOG_LEVEL": "warning",
        }
    )
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-operator-{run_id}.log"
    log_file = log_path.open("wb")
    operator = subprocess.Popen(
        [sys.executable, "-m", "logsentinel.cli", "operator"],
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    restarts = RestartWatch(namespace)
    restarts.start()
    latencies: list[float] = []
    try:
        # warm-up: the operator's watches are up once it has judged the playbook Ready
        wait_for(
            "the operator to judge the playbook",
            lambda: (
                "Ready"
                in kubectl("get", "playbook", "restart-on-errors", "-n", namespace, "-o", "json")
            ),
            60,
        )
        custom = client.CustomObjectsApi()
        # warm-up: one incident handled end to end (the operator's peering grace has passed,
        # its watches and connections are up); not measured
        custom.create_namespaced_custom_object(
            "logsentinel.io", "v1alpha1", namespace, "incidents", incident(namespace, "warm-up")
        )
        wait_for("the warm-up incident", lambda: "warm-up" in restarts.restarted, 60)
        for index, name in enumerate(names):
            custom.create_namespaced_custom_object(
                "logsentinel.io", "v1alpha1", namespace, "incidents", incident(namespace, name)
            )
            created = time.monotonic()
            wait_for(f"{name} restarted", lambda n=name: n in restarts.restarted, 30)  # type: ignore[misc]
            latencies.append((restarts.restarted[name] - created) * 1000)
            if (index + 1) % 10 == 0:
                say(
                    f"{index + 1}/{len(names)} incidents, p50 so far "
                    f"{statistics.median(latencies):.0f} ms"
                )
            time.sleep(args.pause)  # pacing between incidents, not synchronisation
    finally:
        restarts.stop()
        # while the operator runs, so that it releases the finalizers of its daemons
        kubectl("delete", "incidents", "--all", "-n", namespace, "--timeout=60s")
        heartbeats.stop()
        operator.terminate()
        operator.wait(60)
        log_file.close()
        kubectl("delete", "namespace", namespace, "--wait=false")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    say(f"min {min(latencies):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)} incidents")
    say(f"operator log: {log_path}")
    print(f"RESULT remediation_latency_p50_ms={p50:.0f} remediation_latency_p99_ms={p99:.0f}")


if __name__ == "__main__":
    main()
