"""Running `logsentinel operator` as a real process for e2e tests, authenticated only by a
ServiceAccount token bound to the operator's ClusterRole (charts/logsentinel/files), so every
test also proves the role is sufficient."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

from devstack.pytest_plugin import Kubectl
from logsentinel.storage.health import PartitionLag, write_heartbeats
from logsentinel.storage.urls import libpq_url
from support.running import eventually

REPO = Path(__file__).resolve().parents[2]
CLUSTER_ROLE = REPO / "charts" / "logsentinel" / "files" / "operator-clusterrole.yaml"
ROLE_NAME = "logsentinel-operator"
V1 = "registry.invalid/shop/checkout:1.0"
V2 = "registry.invalid/shop/checkout:2.0"


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    document = json.loads(kubectl("get", *args, "-o", "json").stdout)
    assert isinstance(document, dict)
    return document


def service_account_kubeconfig(
    kubectl: Kubectl, admin_kubeconfig: str, namespace: str, directory: Path
) -> Path:
    """A kubeconfig whose only credential is a token of a ServiceAccount in namespace bound to
    the operator's ClusterRole."""
    bind_operator_role(kubectl, namespace)
    return token_kubeconfig(kubectl, admin_kubeconfig, namespace, ROLE_NAME, directory)


def token_kubeconfig(
    kubectl: Kubectl, admin_kubeconfig: str, namespace: str, account: str, directory: Path
) -> Path:
    """A kubeconfig whose only credential is a token of ServiceAccount ``namespace/account``."""
    token = kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {
                "name": account,
                "context": {"cluster": cluster["name"], "user": account, "namespace": namespace},
            }
        ],
        "current-context": account,
    }
    path = directory / f"{account}-{namespace}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def binding_name(namespace: str) -> str:
    """The namespace's ClusterRoleBinding (names may be 253 characters: no truncation)."""
    return f"{ROLE_NAME}-{namespace}"


def bind_operator_role(kubectl: Kubectl, namespace: str) -> None:
    """ServiceAccount ROLE_NAME in namespace, bound to the operator's ClusterRole."""
    kubectl("apply", "-f", str(CLUSTER_ROLE))
    kubectl("create", "serviceaccount", ROLE_NAME, "-n", namespace)
    kubectl(
        "create",
        "clusterrolebinding",
        binding_name(namespace),
        f"--clusterrole={ROLE_NAME}",
        f"--serviceaccount={namespace}:{ROLE_NAME}",
    )


def delete_binding(kubectl: Kubectl, namespace: str) -> None:
    kubectl("delete", "clusterrolebinding", binding_name(namespace), check=False)


def create_peering(kubectl: Kubectl, namespace: str, name: str = "logsentinel") -> None:
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": name, "namespace": namespace},
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(peering))


class OperatorProcess:
    """`logsentinel operator` in a subprocess, its output in a log file."""

    def __init__(
        self,
        kubeconfig: Path,
        database_url: str,
        namespace: str,
        log_file: Path,
        priority: int = 100,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ)
        env.update(
            {
                "LOGSENTINEL_DATABASE_URL": database_url,
                "LOGSENTINEL_KUBECONFIG": str(kubeconfig),
                "LOGSENTINEL_NAMESPACES": json.dumps([namespace]),
                "LOGSENTINEL_CENTRAL_NAMESPACE": namespace,
                "LOGSENTINEL_PRIORITY": str(priority),
                "LOGSENTINEL_METRICS_PORT": "0",
                "LOGSENTINEL_HEALTH_PORT": "0",
                "LOGSENTINEL_IDLE_POLL": "PT2S",
            }
        )
        env.pop("KUBECONFIG", None)
        env.update(extra_env or {})
        self.log_file = log_file
        self._output = log_file.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "logsentinel.cli", "operator"],
            env=env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no chance to finish anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._output.close()


class HealthyPipeline:
    """Heartbeats of a caught-up processor, refreshed every second, for tests that exercise
    remediation without running a processor (the pipeline-health guard reads them)."""

    def __init__(self, database_url: str) -> None:
        self._conninfo = libpq_url(database_url)
        self._stop = threading.Event()
        self.lag = PartitionLag(records=0, seconds=0.0)
        self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            while not self._stop.is_set():
                write_heartbeats(connection, "test-processor", "logs", {0: self.lag})
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def now_stamp(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Cluster:
    """The test's namespace and database, with the operator started on demand."""

    def __init__(
        self, kubectl: Kubectl, namespace: str, database_url: str, kubeconfig: Path, logs: Path
    ) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.database_url = database_url
        self.kubeconfig = kubeconfig
        self.logs = logs
        self.operators: list[OperatorProcess] = []
        self.pipeline: HealthyPipeline | None = None

    def start_operator(
        self, priority: int = 100, extra_env: dict[str, str] | None = None
    ) -> OperatorProcess:
        process = OperatorProcess(
            self.kubeconfig,
            self.database_url,
            self.namespace,
            self.logs / f"operator-{len(self.operators)}.log",
            priority=priority,
            extra_env=extra_env,
        )
        self.operators.append(process)
        return process

    def healthy_pipeline(self) -> None:
        self.pipeline = HealthyPipeline(self.database_url)

    def apply(self, document: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(document))

    def get(self, *args: str) -> dict[str, Any]:
        return get_json(self.kubectl, *args, "-n", self.namespace)

    # --- workloads ---

    def deploy(self, name: str, image: str = V1, replicas: int = 1) -> None:
        self.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {
                    "replicas": replicas,
                    "revisionHistoryLimit": 5,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "app", "image": image}]},
                    },
                },
            }
        )
        self.wait_rolled_out(name, image)

    def set_image(self, name: str, image: str) -> None:
        self.kubectl("set", "image", f"deployment/{name}", f"app={image}", "-n", self.namespace)
        self.wait_rolled_out(name, image)

    def wait_rolled_out(self, name: str, image: str, timeout: float = 90) -> None:
        def done() -> bool:
            deployment = self.get("deployment", name)
            status, spec = deployment.get("status", {}), deployment["spec"]
            pods = self.get("pods", "-l", f"app={name}")["items"]
            running = [
                p
                for p in pods
                if p["status"].get("phase") == "Running"
                and p["spec"]["containers"][0]["image"] == image
                and not p["metadata"].get("deletionTimestamp")
            ]
            return (
                status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
                and status.get("updatedReplicas", 0) == spec["replicas"]
                and status.get("availableReplicas", 0) == spec["replicas"]
                and status.get("replicas", 0) == spec["replicas"]
                and len(running) == spec["replicas"]
            )

        eventually(f"deployment {name} running {image}", done, timeout)

    def deployment(self, name: str) -> dict[str, Any]:
        return self.get("deployment", name)

    # --- playbooks and incidents ---

    def playbook(self, name: str, mode: str, steps: list[dict[str, Any]], **extra: Any) -> None:
        spec: dict[str, Any] = {"mode": mode, "steps": steps}
        spec.update(extra)
        self.apply(
            {
                "apiVersion": "logsentinel.io/v1alpha1",
                "kind": "Playbook",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": spec,
            }
        )

    def incident(self, name: str, target: str, rule: str = "checkout-errors") -> None:
        self.apply(
            {
                "apiVersion": "logsentinel.io/v1alpha1",
                "kind": "Incident",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {
                    "rule": rule,
                    "incidentType": "ErrorBurst",
                    "severity": "high",
                    "fingerprint": (name.encode().hex() + "0" * 32)[:32],
                    "service": target,
                    "target": {"kind": "Deployment", "namespace": self.namespace, "name": target},
                    "summary": "errors in checkout",
                    "firstSeen": now_stamp(),
                    "lastSeen": now_stamp(),
                    "occurrences": 1,
                },
            }
        )

    def incident_status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get("incident", name).get("status") or {}
        return status

    def wait_phase(self, name: str, phases: set[str], timeout: float = 60) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.clear()
            seen.update(self.incident_status(name))
            return seen.get("phase") in phases

        try:
            eventually(f"incident {name} in {phases}", reached, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; status: {json.dumps(seen)}") from None
        return seen

    def audit(self, incident: str) -> list[tuple[str, str, str | None, bool]]:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            rows = connection.execute(
                "SELECT action, result, guard, dry_run FROM audit_log WHERE incident = %s "
                "ORDER BY id",
                (f"{self.namespace}/{incident}",),
            ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def events_for(self, kind: str, name: str) -> list[dict[str, Any]]:
        events = self.get("events", "--field-selector", f"involvedObject.name={name}")["items"]
        return [e for e in events if e["involvedObject"]["kind"] == kind]

    def close(self) -> None:
        # while an operator runs, so that it releases the finalizers of its incident daemons
        self.kubectl(
            "delete", "incidents", "--all", "-n", self.namespace, "--timeout=30s", check=False
        )
        for process in self.operators:
            process.stop()
        if self.pipeline is not None:
            self.pipeline.stop()
