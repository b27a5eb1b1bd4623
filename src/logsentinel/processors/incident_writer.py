"""The incident writer: persists incident changes and rule aggregates on its own thread.

The main thread decides (rule engine, incident builder) and never waits on I/O for it; this
thread writes, in order: PostgreSQL first (the processors' record, deduplicated by the open
fingerprint index), then, in Kubernetes mode, the Incident custom resource and the rule's
status. A database outage holds the queue and retries; the Kubernetes side retries a few times
and then logs the failure (the database row stays, and the next change of that incident
writes the object again).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
import structlog
from pydantic import ValidationError

from logsentinel.backoff import Backoff
from logsentinel.detection.incident_builder import ChangeKind, IncidentChange
from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.domain.incident import Evidence, IncidentSpec
from logsentinel.processors import metrics
from logsentinel.storage import buckets as bucket_store
from logsentinel.storage import incidents as store

log = structlog.get_logger("logsentinel.processors")

KUBE_ATTEMPTS = 4
LABEL_RULE = "logsentinel.io/rule"
LABEL_SERVICE = "logsentinel.io/service"
LABEL_FINGERPRINT = "logsentinel.io/fingerprint"


class Cluster(Protocol):
    """What the writer needs from Kubernetes (logsentinel.kube implements it)."""

    def create(
        self, namespace: str, name: str, spec: IncidentSpec, labels: dict[str, str]
    ) -> Any: ...

    def update_occurrences(
        self,
        namespace: str,
        name: str,
        occurrences: int,
        last_seen: datetime,
        evidence: Evidence | None,
    ) -> Any: ...

    def resolve(self, namespace: str, name: str, resolved_at: datetime, resolution: str) -> Any: ...

    def record_firing(self, namespace: str, rule_name: str, fired_at: datetime) -> Any: ...


class Owners(Protocol):
    def resolve(self, namespace: str, pod_name: str) -> WorkloadRef | None: ...


@dataclass(frozen=True)
class Closed:
    """An incident found resolved by someone else when the processor tried to update it."""

    fingerprint: str
    at: datetime


class IncidentWriter:
    """A queue and the thread that drains it."""

    def __init__(
        self,
        database_url: str,
        *,
        cluster: Cluster | None = None,
        owners: Owners | None = None,
        compose_targets: bool = False,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self.database_url = database_url
        self.cluster = cluster
        self.owners = owners
        self.compose_targets = compose_targets
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.closed_elsewhere: deque[Closed] = deque()
        self._queue: queue.Queue[IncidentChange | list[RuleBucket] | None] = queue.Queue()
        self._aliases: dict[str, str] = {}  # builder's name -> the stored incident's name
        self._connection: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="incident-writer", daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    # --- the main thread's side ----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: IncidentChange | list[RuleBucket]) -> None:
        self._idle.clear()
        self._queue.put(work)

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued (within timeout) and stop."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._connection is not None:
            self._connection.close()

    # --- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            backoff = Backoff(self.retry_initial, self.retry_max)
            while True:
                try:
                    self._write(work)
                    break
                except psycopg.Error as error:
                    metrics.INCIDENT_WRITE_ERRORS.labels("database").inc()
                    delay = backoff.next()
                    log.warning(
                        "incident write failed; retrying", error=str(error), retry_in_s=delay
                    )
                    self._drop_connection()
                    time.sleep(delay)  # backoff before retrying the same write
            if self._queue.empty():
                self._idle.set()

    def wait_idle(self, timeout: float) -> bool:
        """True once everything submitted so far is written (tests and shutdown)."""
        return self._idle.wait(timeout)

    def _database(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self.database_url, connect_timeout=5, autocommit=True
            )
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _write(self, work: IncidentChange | list[RuleBucket]) -> None:
        if isinstance(work, list):
            bucket_store.add_buckets(self._database(), work)
            return
        {
            ChangeKind.OPENED: self._opened,
            ChangeKind.RECURRED: self._recurred,
            ChangeKind.RESOLVED: self._resolved,
        }[work.kind](work)
        metrics.INCIDENT_CHANGES.labels(work.kind.value).inc()

    def _opened(self, change: IncidentChange) -> None:
        incident = change.incident
        spec = incident.spec
        if spec.target is None and self.owners is not None and change.pod:
            target = self.owners.resolve(incident.namespace, change.pod)
            if target is not None:
                spec = spec.model_copy(update={"target": target})
        if spec.target is None and self.compose_targets:
            try:
                compose_service = WorkloadRef(
                    kind=WorkloadKind.COMPOSE_SERVICE,
                    namespace=incident.namespace,
                    name=spec.service,
                )
                spec = spec.model_copy(update={"target": compose_service})
            except ValidationError as error:  # a name Kubernetes would refuse: no target
                log.warning("no Compose target", service=spec.service, error=str(error))
        name = store.open_incident(
            self._database(),
            name=incident.name,
            namespace=incident.namespace,
            rule=incident.rule_id,
            group_key=incident.key_fields,
            spec=spec,
            source=incident.partition,
        )
        self._aliases[incident.name] = name
        if name != incident.name:
            log.info("incident already open elsewhere; joined it", incident=name)
            return
        if self.cluster is not None:
            labels = {
                LABEL_RULE: spec.rule[:63],
                LABEL_SERVICE: _label_value(spec.service),
                LABEL_FINGERPRINT: spec.fingerprint,
            }
            self._kube(
                "create incident", self.cluster.create, incident.namespace, name, spec, labels
            )
        metrics.DETECTION_LATENCY.observe((datetime.now(UTC) - spec.last_seen).total_seconds())
        log.info(
            "incident opened",
            incident=name,
            namespace=incident.namespace,
            rule=incident.rule_id,
            target=str(spec.target) if spec.target else None,
            summary=spec.summary,
        )
        self._fired(incident.rule_id, spec.last_seen)

    def _recurred(self, change: IncidentChange) -> None:
        incident = change.incident
        name = self._aliases.get(incident.name, incident.name)
        spec = incident.spec
        still_open = store.record_recurrence(
            self._database(),
            name,
            occurrences=spec.occurrences,
            last_seen=spec.last_seen,
            evidence=spec.evidence,
        )
        if not still_open:
            self.closed_elsewhere.append(Closed(spec.fingerprint, change.at))
            return
        if self.cluster is not None:
            self._kube(
                "update incident",
                self.cluster.update_occurrences,
                incident.namespace,
                name,
                spec.occurrences,
                spec.last_seen,
                spec.evidence,
            )
        self._fired(incident.rule_id, spec.last_seen)

    def _resolved(self, change: IncidentChange) -> None:
        incident = change.incident
        name = self._aliases.pop(incident.name, incident.name)
        resolved = store.resolve_incident(
            self._database(), name, at=change.at, resolution=change.resolution
        )
        if resolved and self.cluster is not None:
            self._kube(
                "resolve incident",
                self.cluster.resolve,
                incident.namespace,
                name,
                change.at,
                change.resolution,
            )
        log.info("incident resolved", incident=name, resolution=change.resolution)

    def _fired(self, rule_id: str, at: datetime) -> None:
        if self.cluster is None:
            return
        namespace, _, rule_name = rule_id.partition("/")
        self._kube("record rule firing", self.cluster.record_firing, namespace, rule_name, at)

    def _kube(self, what: str, call: Any, *args: Any) -> None:
        backoff = Backoff(self.retry_initial, self.retry_max)
        for attempt in range(1, KUBE_ATTEMPTS + 1):
            try:
                call(*args)
                return
            except Exception as error:  # the adapter already retried transport errors
                metrics.INCIDENT_WRITE_ERRORS.labels("kubernetes").inc()
                if attempt == KUBE_ATTEMPTS:
                    log.error("kubernetes write failed; giving up", action=what, error=str(error))
                    return
                log.warning("kubernetes write failed; retrying", action=what, error=str(error))
                time.sleep(backoff.next())  # backoff between attempts


def _label_value(text: str) -> str:
    """A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)[:63]
    return cleaned.strip("._-") or "unknown"
