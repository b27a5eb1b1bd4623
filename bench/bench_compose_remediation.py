"""Compose remediation latency: an incident is stored in PostgreSQL -> the Docker engine has
accepted the remediator's action on the service's container.

Runs ONE `logsentinel remediator` process on the local engine (here Podman's Docker API, started
by devstack as `make compose-up` does) and a fresh database of the local PostgreSQL. A Compose
project of `--services` services, one container each (the sample app), and an `auto` Playbook
whose only step is rolloutRestart; a caught-up processor's heartbeat every second (the pipeline
guard reads it; no processor runs here: this measures the remediator). Then an incident is
stored for the next service every `--pause` seconds, as a processor stores it (its target the
Compose service); its latency is the time from the insert's commit to the engine's first event
about the service's container (the stop of the restart), read from the engine's event stream.
One warm-up incident first, not measured.

Last line: RESULT compose_remediation_p50_ms=<a> compose_remediation_p99_ms=<b>
(target: p99 <= 1000 ms).
"""

from __future__ import annotations

import argparse
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

import docker
import psycopg
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from benchkit import Heartbeats, fresh_database, percentile, say, wait_for  # noqa: E402

from devstack import compose, images  # noqa: E402
from logsentinel.domain.incident import IncidentSpec  # noqa: E402
from logsentinel.remediation.docker import (  # noqa: E402
    NUMBER_LABEL,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
)
from logsentinel.storage import incidents  # noqa: E402

ACTIONS = {"kill", "stop", "restart", "die"}
"""Engine events that show a restart was accepted (the first one to arrive counts)."""


class EngineEvents:
    """The first action event per container of the project, by the monotonic clock at arrival."""

    def __init__(self, client: docker.DockerClient, project: str) -> None:
        self.first: dict[str, float] = {}
        self._stream = client.events(decode=True, filters={"label": [f"{PROJECT_LABEL}={project}"]})
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for event in self._stream:
            arrived = time.monotonic()
            name = str(((event.get("Actor") or {}).get("Attributes") or {}).get("name", ""))
            if event.get("Action") in ACTIONS and name:
                self.first.setdefault(name, arrived)

    def stop(self) -> None:
        self._stream.close()


def playbook(project: str) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": "restart-on-errors", "namespace": project},
        "spec": {
            "triggers": {"incidentTypes": ["ErrorBurst"]},
            "mode": "auto",
            "steps": [{"type": "rolloutRestart"}],
            "guards": {"maxActionsPerHour": 1000},
        },
    }


def store_incident(url: str, project: str, service: str) -> None:
    now = datetime.now(UTC).isoformat()
    spec = IncidentSpec.model_validate(
        {
            "rule": "errors",
            "incidentType": "ErrorBurst",
            "severity": "high",
            "fingerprint": uuid.uuid4().hex,
            "service": service,
            "target": {"kind": "ComposeService", "namespace": project, "name": service},
            "firstSeen": now,
            "lastSeen": now,
        }
    )
    with psycopg.connect(url, autocommit=True) as connection:
        incidents.open_incident(
            connection,
            name=f"{service}-errors",
            namespace=project,
            rule=f"{project}/errors",
            group_key={"service": service},
            spec=spec,
            source=None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between incidents")
    args = parser.parse_args()
    database = os.environ.get("LOGSENTINEL_DATABASE_URL")
    if not database:
        raise SystemExit("needs LOGSENTINEL_DATABASE_URL: run `make up` first")
    run_id = uuid.uuid4().hex[:8]
    project = f"bench-compose-{run_id}"
    url = fresh_database(database, f"bench_compose_{run_id}")
    target = compose.target(project)  # starts Podman's engine when it is the one
    client = docker.DockerClient(base_url=target.env["DOCKER_HOST"])
    image = images.build_sample_app(images.build_base())[0]
    services = [f"svc-{index:03d}" for index in range(args.services)]
    say(f"starting {len(services) + 1} containers of {image} in project {project}")
    for service in ["warm-up", *services]:
        client.containers.run(
            image,
            name=f"{project}-{service}-1",
            labels={
                PROJECT_LABEL: project,
                SERVICE_LABEL: service,
                NUMBER_LABEL: "1",
                ONEOFF_LABEL: "False",
            },
            environment={"LINES_PER_SECOND": "1"},
            detach=True,
        )
    manifests = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-compose-{run_id}"
    manifests.mkdir(parents=True)
    (manifests / "playbook.yaml").write_text(yaml.safe_dump(playbook(project)))
    heartbeats = Heartbeats(url)
    log_path = manifests / "remediator.log"
    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": url,
        "LOGSENTINEL_DOCKER_HOST": target.env["DOCKER_HOST"],
        "LOGSENTINEL_MANIFESTS_DIRECTORY": str(manifests),
        "LOGSENTINEL_METRICS_PORT": "0",
        "LOGSENTINEL_LOG_LEVEL": "warning",
    }
    events = EngineEvents(client, project)
    latencies: list[float] = []
    with log_path.open("wb") as log_file:
        remediator = subprocess.Popen(
            [sys.executable, "-m", "logsentinel.cli", "remediator"],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            store_incident(url, project, "warm-up")
            wait_for("the warm-up restart", lambda: f"{project}-warm-up-1" in events.first, 60)
            say("warm-up incident handled; measuring")
            for index, service in enumerate(services):
                store_incident(url, project, service)
                stored = time.monotonic()
                container = f"{project}-{service}-1"
                wait_for(f"{service} restarted", lambda c=container: c in events.first, 60)  # type: ignore[misc]
                latencies.append((events.first[container] - stored) * 1000)
                if (index + 1) % 10 == 0:
                    say(
                        f"{index + 1}/{len(services)} incidents, p50 so far "
                        f"{statistics.median(latencies):.0f} ms"
                    )
                time.sleep(args.pause)  # pacing between incidents, not synchronisation
        finally:
            events.stop()
            remediator.terminate()
            remediator.wait(60)
            heartbeats.stop()
            for leftover in client.containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={project}"}
            ):
                leftover.remove(force=True)
            client.close()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    say(f"min {min(latencies):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)} incidents")
    say(f"remediator log: {log_path}")
    print(f"RESULT compose_remediation_p50_ms={p50:.0f} compose_remediation_p99_ms={p99:.0f}")


if __name__ == "__main__":
    main()
