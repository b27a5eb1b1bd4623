"""One step of an incident's remediation, persisted: read the incident fresh from the apiserver,
let the engine advance it, then write the outcome (status, progress annotation, audit, events,
the playbook's circuit breaker). Synchronous; the Kopf daemon calls it from a thread.

Order matters for restart safety: the status (the action records people read) is written before
the progress annotation (what the engine resumes from), so an interrupted write makes the engine
redo a step's bookkeeping, never skip it; the step itself is protected by its marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from logsentinel.domain.audit import AuditEntry
from logsentinel.domain.common import GROUP_VERSION
from logsentinel.domain.incident import IncidentPhase
from logsentinel.domain.remediation import (
    ACKNOWLEDGED_BY_ANNOTATION,
    PROGRESS_ANNOTATION,
    RESOLVE_REQUESTED_BY_ANNOTATION,
)
from logsentinel.domain.resources import Incident, Playbook
from logsentinel.domain.types import Json, format_timestamp
from logsentinel.kube.errors import KubeError, KubeNotFoundError
from logsentinel.operator import metrics
from logsentinel.operator.objects import EventSink, Objects
from logsentinel.operator.validation import manifest
from logsentinel.operator.world import OperatorWorld
from logsentinel.remediation.engine import Event, Outcome, RemediationEngine

log = structlog.get_logger("logsentinel.operator")

TARGET_API = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}


def parse_incident(body: Json) -> Incident:
    document = manifest(body)
    if body.get("status"):
        document["status"] = body["status"]
    return Incident.from_manifest(document, f"Incident {body['metadata'].get('name')}")


class Remediator:
    def __init__(
        self,
        engine: RemediationEngine,
        incidents: Objects,
        playbooks: Objects,
        world: OperatorWorld,
        events: EventSink,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.incidents = incidents
        self.playbooks = playbooks
        self.world = world
        self.events = events
        self.clock = clock

    def step(self, namespace: str, name: str, playbooks: Sequence[Playbook]) -> float | None:
        """Advance the incident once; seconds until it should be looked at again (None: only
        when something changes or after the idle poll)."""
        try:
            body = self.incidents.get(namespace, name)
        except KubeNotFoundError:
            return None
        try:
            incident = parse_incident(body)
        except Exception as error:  # an invalid incident is reported, never acted on
            log.warning("incident not valid", incident=f"{namespace}/{name}", error=str(error))
            return None
        if self._human_requests(incident):
            return 0
        outcome = self.engine.advance(incident, playbooks, self.clock())
        self.persist(incident, outcome)
        return outcome.recheck_after

    def _human_requests(self, incident: Incident) -> bool:
        """Carry an acknowledgement into status; resolve on request. True when resolved."""
        namespace = incident.metadata.namespace or "default"
        name = incident.metadata.name
        annotations = incident.metadata.annotations
        status = incident.status
        acknowledged = annotations.get(ACKNOWLEDGED_BY_ANNOTATION)
        if acknowledged and (status is None or status.acknowledged_by != acknowledged):
            self.incidents.patch_status(
                namespace,
                name,
                {"acknowledgedBy": acknowledged, "acknowledgedAt": format_timestamp(self.clock())},
            )
        requester = annotations.get(RESOLVE_REQUESTED_BY_ANNOTATION)
        if not requester:
            return False
        message = f"resolved by {requester}"
        self.engine.release(f"{namespace}/{name}")
        self.persist(
            incident,
            Outcome(
                phase=IncidentPhase.RESOLVED,
                resolution=message,
                audit=[
                    AuditEntry(
                        at=self.clock(),
                        actor=requester,
                        action="resolve",
                        result="Succeeded",
                        incident=f"{namespace}/{name}",
                        message=message,
                    )
                ],
                events=[Event("Resolved", message)],
            ),
        )
        return True

    def persist(self, incident: Incident, outcome: Outcome) -> None:
        namespace = incident.metadata.namespace or "default"
        name = incident.metadata.name
        status = self._status_change(outcome)
        if status:
            self.incidents.patch_status(namespace, name, status)
        if outcome.progress is not None:
            text = json.dumps(outcome.progress.to_wire(), separators=(",", ":"))
            self.incidents.patch(
                namespace, name, {"metadata": {"annotations": {PROGRESS_ANNOTATION: text}}}
            )
        if outcome.phase is not None:
            try:
                self.world.set_phase(namespace, name, outcome.phase.value)
            except Exception as error:  # the CR is the record; the table follows it
                log.error("phase write failed", incident=f"{namespace}/{name}", error=str(error))
        if outcome.audit:
            try:
                self.world.record(outcome.audit)
            except Exception as error:
                log.error("audit write failed", incident=f"{namespace}/{name}", error=str(error))
        for event in outcome.events:
            involved = self._involved(incident, event.on_target)
            if involved is not None:
                self.events.record(
                    involved, event.reason, event.message, "Warning" if event.warning else "Normal"
                )
        if outcome.playbook_succeeded is not None and outcome.progress is not None:
            self._update_circuit(outcome.progress.playbook, outcome.playbook_succeeded)
        for entry in outcome.audit:
            metrics.REMEDIATION_ACTIONS.labels(entry.action, entry.result).inc()
            if entry.guard:
                metrics.GUARD_REFUSALS.labels(entry.guard).inc()
            log.info(
                "remediation",
                incident=f"{namespace}/{name}",
                action=entry.action,
                step=entry.step,
                result=entry.result,
                guard=entry.guard,
                message=entry.message,
            )

    def _status_change(self, outcome: Outcome) -> Json:
        status: Json = {}
        if outcome.phase is not None:
            status["phase"] = outcome.phase.value
            if outcome.phase is IncidentPhase.RESOLVED:
                status["resolvedAt"] = format_timestamp(self.clock())
        if outcome.playbook is not None:
            status["playbook"] = outcome.playbook
        if outcome.actions is not None:
            status["actions"] = [action.to_wire() for action in outcome.actions]
        if outcome.resolution is not None:
            status["resolution"] = outcome.resolution[:1024]
        return status

    def _involved(self, incident: Incident, on_target: bool) -> Json | None:
        if not on_target:
            return {
                "apiVersion": GROUP_VERSION,
                "kind": Incident.INFO.kind,
                "namespace": incident.metadata.namespace,
                "name": incident.metadata.name,
                "uid": incident.metadata.uid,
            }
        target = incident.spec.target
        if target is None:
            return None
        return {
            "apiVersion": TARGET_API.get(target.kind.value, ""),
            "kind": target.kind.value,
            "namespace": target.namespace,
            "name": target.name,
        }

    def _update_circuit(self, playbook_key: str, succeeded: bool) -> None:
        namespace, _, name = playbook_key.partition("/")
        now = format_timestamp(self.clock())

        def change(status: Json) -> Json:
            failures = 0 if succeeded else int(status.get("consecutiveFailures") or 0) + 1
            change: Json = {"consecutiveFailures": failures, "lastActionAt": now}
            try:
                body = self.playbooks.get(namespace, name)
                limit = Playbook.from_manifest(manifest(body)).spec.guards
                opens = failures >= limit.circuit_breaker_failures
            except Exception:  # unreadable playbook: keep the breaker as it is
                opens = bool(status.get("circuitOpen"))
            if opens and not status.get("circuitOpen"):
                change.update(circuitOpen=True, circuitOpenedAt=now)
            return change

        try:
            self.playbooks.update_status(namespace, name, change)
        except KubeError as error:
            log.error("circuit breaker update failed", playbook=playbook_key, error=str(error))
