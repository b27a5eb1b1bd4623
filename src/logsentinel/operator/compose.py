"""`logsentinel remediator`: the operator's remediation without Kubernetes, for Docker Compose.

The same Remediator and RemediationEngine as the Kopf operator, on other stores:
- incidents are the PostgreSQL rows the processors opened; what Kubernetes mode keeps on the
  Incident object (annotations: progress, approval, requests; status: actions, phase) is kept
  on the row (storage/compose.py), and the API writes approvals there;
- playbooks and rules are YAML manifests in directories (the CRDs' format, validated the same
  way); a playbook's status (its circuit breaker) is a row;
- Events about an incident go into its timeline;
- the executor is the Docker Engine API (remediation/docker.py).

A loop lists the open incidents whose target is a Compose service and advances each one when it
is due (the engine says when to look again), on worker threads. It looks at once when
PostgreSQL announces a change (an incident opened, an approval: storage.incidents.announce), and
every ``poll`` at the latest. One remediator per Compose project: nothing here elects a leader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import structlog
from prometheus_client import start_http_server

from logsentinel.domain.audit import OPERATOR_ACTOR
from logsentinel.domain.common import GROUP_VERSION, WorkloadKind
from logsentinel.domain.incident import FINAL_PHASES, IncidentPhase
from logsentinel.domain.playbook import PlaybookStatus
from logsentinel.domain.resources import DetectionRule, Incident, Playbook
from logsentinel.domain.types import Json, format_timestamp
from logsentinel.kube.errors import KubeNotFoundError
from logsentinel.kube.events import EventType
from logsentinel.logs import configure
from logsentinel.manifests import load_resources
from logsentinel.operator.remediator import Remediator
from logsentinel.operator.settings import ComposeSettings
from logsentinel.operator.world import Database, OperatorWorld
from logsentinel.remediation.docker import DockerExecutor
from logsentinel.remediation.engine import RemediationEngine
from logsentinel.remediation.outbound import OutboundPolicy
from logsentinel.storage import compose, incidents, migrate
from logsentinel.storage.urls import libpq_url

log = structlog.get_logger("logsentinel.operator")

LISTED = 1000
"""Open incidents looked at per round, newest first."""


def now() -> datetime:
    return datetime.now(UTC)


def _not_found(kind: str, namespace: str, name: str) -> KubeNotFoundError:
    # The remediator treats a vanished object alike on both platforms.
    return KubeNotFoundError(f"read {kind} {namespace}/{name}", 404, "NotFound", "not stored")


def incident_manifest(row: dict[str, Any], state: dict[str, Any]) -> Json:
    """An incident row (storage.incidents.get_incident) and its annotations and status
    (storage.compose.incident_object) as the Incident object Kubernetes mode would have."""
    target = row.get("target")
    spec: Json = {
        "rule": str(row["rule"]).rpartition("/")[2],
        "incidentType": row["incident_type"],
        "severity": row["severity"],
        "fingerprint": row["fingerprint"],
        "service": row["service"],
        "summary": row["summary"],
        "firstSeen": format_timestamp(row["first_seen"]),
        "lastSeen": format_timestamp(row["last_seen"]),
        "occurrences": row["occurrences"],
        "evidence": row["evidence"] or {},
    }
    if target:
        spec["target"] = target
    status = dict(state.get("status") or {})
    status.setdefault("phase", row["phase"])
    return {
        "apiVersion": GROUP_VERSION,
        "kind": Incident.INFO.kind,
        "metadata": {
            "name": row["name"],
            "namespace": row["namespace"],
            "uid": row["name"],  # unique among incidents, as the markers need
            "annotations": state.get("annotations") or {},
        },
        "spec": spec,
        "status": status,
    }


class IncidentRows:
    """Incidents in PostgreSQL, read and written as the remediator reads and writes objects."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(self, namespace: str, name: str) -> Json:
        with self.database.connection() as connection:
            row = incidents.get_incident(connection, name)
            state = compose.incident_object(connection, name)
        if row is None or state is None or row["namespace"] != namespace:
            raise _not_found("incident", namespace, name)
        return incident_manifest(row, state)

    def patch(self, namespace: str, name: str, body: Json) -> Json:
        annotations = ((body.get("metadata") or {}).get("annotations")) or {}
        with self.database.connection() as connection:
            if not compose.annotate(connection, name, dict(annotations)):
                raise _not_found("incident", namespace, name)
        return self.get(namespace, name)

    def patch_status(self, namespace: str, name: str, status: Json) -> Json:
        with self.database.connection() as connection:
            compose.merge_status(connection, name, dict(status))
        return self.get(namespace, name)

    def update_status(self, namespace: str, name: str, change: Callable[[Json], Json]) -> Json:
        current = self.get(namespace, name).get("status") or {}
        return self.patch_status(namespace, name, change(current))


class ManifestFiles:
    """Playbooks or rules from YAML directories, read again on every call (they are small and
    people edit them in place); playbooks get their status from PostgreSQL."""

    def __init__(self, directories: Sequence[Path], database: Database) -> None:
        self.directories = list(directories)
        self.database = database

    def playbooks(self) -> list[Playbook]:
        loaded = load_resources(self.directories, Playbook)
        for source, reason in loaded.refused.items():
            log.warning("manifest refused", source=source, reason=reason)
        found = []
        with self.database.connection() as connection:
            for playbook in loaded.resources:
                stored = compose.playbook_status(
                    connection, playbook.metadata.namespace or "default", playbook.metadata.name
                )
                if stored:
                    playbook = playbook.model_copy(
                        update={"status": PlaybookStatus.model_validate(stored)}
                    )
                found.append(playbook)
        return found

    def get(self, namespace: str, name: str) -> Json:
        for kind in (Playbook, DetectionRule):
            for resource in load_resources(self.directories, kind).resources:
                if (resource.metadata.namespace or "default", resource.metadata.name) == (
                    namespace,
                    name,
                ):
                    return resource.to_wire()
        raise _not_found("manifest", namespace, name)

    def patch(self, namespace: str, name: str, body: Json) -> Json:
        raise NotImplementedError("manifests are files: edit them")

    def patch_status(self, namespace: str, name: str, status: Json) -> Json:
        return self.update_status(namespace, name, lambda _: status)

    def update_status(self, namespace: str, name: str, change: Callable[[Json], Json]) -> Json:
        with self.database.connection() as connection:
            return compose.update_playbook_status(connection, namespace, name, change)


class TimelineEvents:
    """Events about an incident become entries of its timeline; others are logged."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(
        self,
        involved: object,
        reason: str,
        message: str,
        type: EventType = "Normal",
        *,
        action: str | None = None,
    ) -> str | None:
        about = involved if isinstance(involved, dict) else {}
        if about.get("kind") != Incident.INFO.kind:
            log.info("event", reason=reason, message=message, type=type, involved=about)
            return None
        with self.database.connection() as connection:
            incidents.add_event(
                connection,
                str(about["name"]),
                reason,
                OPERATOR_ACTOR,
                {"message": message, "type": type},
            )
        return reason


class ComposeLoop:
    """Advances every open incident of a Compose service when it is due: each incident's steps
    on a worker thread of its own (a slow rollout does not hold the others up), never two at once
    for one incident."""

    def __init__(
        self,
        remediator: Remediator,
        manifests: ManifestFiles,
        database: Database,
        poll: float,
        idle_poll: float,
        *,
        observe: Callable[[], object] | None = None,
        workers: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remediator = remediator
        self.manifests = manifests
        self.database = database
        self.poll = poll
        self.idle_poll = idle_poll
        self.observe = observe
        self.clock = clock
        self.due: dict[tuple[str, str], float] = {}
        self._running: dict[tuple[str, str], Future[None]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="remediate")

    def open_incidents(self) -> list[tuple[str, str]]:
        """(namespace, name) of the open incidents whose target is a Compose service."""
        with self.database.connection() as connection:
            rows = incidents.list_incidents(
                connection, incidents.IncidentFilter(open_only=True), limit=LISTED
            )
        return [
            (row["namespace"], row["name"])
            for row in rows
            if (row.get("target") or {}).get("kind") == WorkloadKind.COMPOSE_SERVICE.value
            and IncidentPhase(row["phase"]) not in FINAL_PHASES
        ]

    def round(self) -> int:
        """One pass: the services' images recorded, the incidents that are due handed to the
        workers; how many were."""
        if self.observe is not None:
            self.observe()
        listed = self.open_incidents()
        with self._lock:
            for gone in set(self.due) - set(listed) - set(self._running):
                self.remediator.engine.release(f"{gone[0]}/{gone[1]}")
                del self.due[gone]
            ready = [
                key
                for key in listed
                if key not in self._running and self.due.get(key, 0.0) <= self.clock()
            ]
        if not ready:
            return 0
        playbooks = self.manifests.playbooks()
        with self._lock:
            for key in ready:
                self._running[key] = self._pool.submit(self._advance, key, playbooks)
        return len(ready)

    def _advance(self, key: tuple[str, str], playbooks: Sequence[Playbook]) -> None:
        """Steps of one incident until the engine says to look again later."""
        try:
            delay: float | None = 0
            while delay == 0:
                try:
                    delay = self.remediator.step(key[0], key[1], playbooks)
                except Exception as error:  # the database or Docker failed: try again later
                    log.error("remediation step failed", incident="/".join(key), error=str(error))
                    delay = 5.0
            with self._lock:
                self.due[key] = self.clock() + (self.idle_poll if delay is None else delay)
        finally:
            with self._lock:
                self._running.pop(key, None)

    def idle(self, timeout: float) -> bool:
        """Wait until no step is under way; whether that happened within ``timeout``."""
        with self._lock:
            running = list(self._running.values())
        return not wait(running, timeout=timeout).not_done

    def next_due(self) -> float:
        """Seconds until the next incident is due (at most ``poll``)."""
        with self._lock:
            soonest = min(self.due.values(), default=self.clock() + self.poll)
        return max(0.0, min(self.poll, soonest - self.clock()))

    def run(self, changes: incidents.ChangeListener, stopped: Callable[[], bool]) -> None:
        """Rounds until ``stopped``: at every change notification (an incident opened, an
        approval), when an incident is due, and every ``poll`` at the latest."""
        while not stopped():
            try:
                self.round()
            except Exception as error:  # PostgreSQL away: say so and keep trying
                log.error("remediation round failed", error=str(error))
            changes.wait(max(self.next_due(), 0.05))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def build(settings: ComposeSettings) -> ComposeLoop:
    """The loop with everything it uses, connected (the database migrated when asked)."""
    if settings.migrate_on_start:
        migrate.upgrade(settings.database_url)
    client = (
        docker.DockerClient(base_url=settings.docker_host)
        if settings.docker_host
        else docker.from_env()
    )
    database = Database(settings.database_url)
    executor = DockerExecutor(client, compose.DatabaseServiceMemory(database.connection))
    manifests = ManifestFiles([settings.manifests_directory], database)
    outbound = OutboundPolicy.of(settings.notify_allowed_targets)
    world = OperatorWorld(
        database, executor, manifests, settings.heartbeat_stale_after, now, outbound
    )
    engine = RemediationEngine(executor, world, settings.central_namespace)
    remediator = Remediator(
        engine, IncidentRows(database), manifests, world, TimelineEvents(database), now
    )
    return ComposeLoop(
        remediator,
        manifests,
        database,
        settings.poll.total_seconds(),
        settings.idle_poll.total_seconds(),
        observe=executor.observe,
        workers=settings.workers,
    )


def main(settings: ComposeSettings) -> None:
    configure(settings.log_level)
    loop = build(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    log.info(
        "remediator starting",
        manifests=str(settings.manifests_directory),
        docker=settings.docker_host or "default",
    )
    changes = incidents.ChangeListener(libpq_url(settings.database_url))
    try:
        loop.run(changes, stopped=lambda: False)
    finally:
        changes.close()
        loop.close()
