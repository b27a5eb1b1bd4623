"""Kopf registrations: what the operator reacts to. The work itself lives elsewhere
(validation.py judges rules and playbooks; remediator.py and the remediation engine act).

- DetectionRule, Playbook: on create/update/resume, the Ready condition (reason, message naming
  the bad field, observedGeneration) and an Event when the verdict changes.
- Playbook: the circuit breaker is reset by annotating it logsentinel.io/reset-circuit=true.
- Incident: one daemon per incident that is not Resolved or Escalated, advancing its
  remediation until there is nothing left to do. Kopf stops it when the incident is deleted,
  reaches a final phase, or this replica is paused by peering.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
import structlog

from logsentinel.domain.audit import AuditEntry
from logsentinel.domain.common import (
    DEFAULT_CENTRAL_NAMESPACE,
    GROUP_VERSION,
    READY,
    wire_condition,
)
from logsentinel.domain.incident import FINAL_PHASES
from logsentinel.domain.remediation import CIRCUIT_RESET_ANNOTATION
from logsentinel.domain.resources import DetectionRule, Incident, Playbook
from logsentinel.domain.types import flag
from logsentinel.kube.events import EventRecorder
from logsentinel.operator import metrics
from logsentinel.operator.remediator import Remediator
from logsentinel.operator.validation import (
    Judgement,
    judge_playbook,
    judge_rule,
    manifest,
)
from logsentinel.operator.world import OperatorWorld

log = structlog.get_logger("logsentinel.operator")

GROUP, VERSION = GROUP_VERSION.split("/")


@dataclass
class Runtime:
    """What the handlers share; set by main.run before Kopf starts."""

    remediator: Remediator
    world: OperatorWorld
    events: EventRecorder
    idle_poll: float
    acting_from: float = 0.0  # time.monotonic() before which no remediation step runs


RUNTIME: Runtime | None = None


def runtime() -> Runtime:
    if RUNTIME is None:
        raise RuntimeError("the operator runtime is not configured (call main.run)")
    return RUNTIME


def now() -> datetime:
    return datetime.now(UTC)


# --- DetectionRule and Playbook: Ready conditions -------------------------------------------


def _publish(kind: str, body: kopf.Body, patch: kopf.Patch, judgement: Judgement) -> None:
    status = dict(body.get("status") or {})
    previous = list(status.get("conditions") or [])
    generation = body.get("metadata", {}).get("generation")
    condition = wire_condition(
        READY,
        judgement.valid,
        judgement.reason,
        judgement.message,
        generation=generation,
        previous=previous,
        now=now(),
    )
    metrics.VALIDATIONS.labels(kind, judgement.reason).inc()
    patch.status["conditions"] = [condition]
    patch.status["observedGeneration"] = generation
    old = next((c for c in previous if c.get("type") == READY), None)
    if (
        old is None
        or old.get("reason") != judgement.reason
        or old.get("message") != (judgement.message)
    ):
        kopf.event(
            body,
            type="Normal" if judgement.valid else "Warning",
            reason=judgement.reason,
            message=judgement.message[:1024],
        )
    log.info(
        "validated",
        kind=kind,
        name=f"{body.get('metadata', {}).get('namespace')}/{body.get('metadata', {}).get('name')}",
        valid=judgement.valid,
        reason=judgement.reason,
        message=judgement.message,
    )


@kopf.on.resume(GROUP, VERSION, DetectionRule.INFO.plural)
@kopf.on.create(GROUP, VERSION, DetectionRule.INFO.plural)
@kopf.on.update(GROUP, VERSION, DetectionRule.INFO.plural)
def rule_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    central = runtime().remediator.engine.central_namespace or DEFAULT_CENTRAL_NAMESPACE
    _publish("DetectionRule", body, patch, judge_rule(dict(body), central))


@kopf.on.resume(GROUP, VERSION, Playbook.INFO.plural)
@kopf.on.create(GROUP, VERSION, Playbook.INFO.plural)
@kopf.on.update(GROUP, VERSION, Playbook.INFO.plural)
def playbook_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    _publish("Playbook", body, patch, judge_playbook(dict(body)))


@kopf.on.field(
    # a tuple: the annotation key has dots of its own
    GROUP,
    VERSION,
    Playbook.INFO.plural,
    field=("metadata", "annotations", CIRCUIT_RESET_ANNOTATION),
)
def reset_circuit(
    body: kopf.Body, patch: kopf.Patch, new: Any, namespace: str | None, name: str, **_: Any
) -> None:
    if flag(str(new)) is not True:
        return
    status = body.get("status") or {}
    patch.status["consecutiveFailures"] = 0
    patch.status["circuitOpen"] = False
    patch.status["circuitOpenedAt"] = None
    patch.metadata.annotations[CIRCUIT_RESET_ANNOTATION] = None
    message = f"circuit breaker reset after {status.get('consecutiveFailures', 0)} failures"
    kopf.event(body, type="Normal", reason="CircuitReset", message=message)
    entry = AuditEntry(
        at=now(),
        actor="kubectl annotate",
        action="resetCircuit",
        result="Succeeded",
        playbook=f"{namespace}/{name}",
        message=message,
    )
    try:
        runtime().world.record([entry])
    except Exception as error:
        log.error("audit write failed", playbook=f"{namespace}/{name}", error=str(error))


# --- Incidents: the remediation daemon ------------------------------------------------------


@kopf.index(GROUP, VERSION, Playbook.INFO.plural)
def playbooks(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[str, Playbook]:
    """Valid playbooks by namespace/name, kept current by Kopf from its watch."""
    try:
        parsed = Playbook.from_manifest({**manifest(dict(body)), "status": body.get("status")})
    except Exception:  # reported by playbook_changed; an invalid playbook never runs
        return {}
    return {f"{namespace}/{name}": parsed}


def _not_final(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in FINAL_PHASES


@kopf.daemon(
    GROUP,
    VERSION,
    Incident.INFO.plural,
    when=_not_final,
    cancellation_timeout=10.0,
    initial_delay=0,
)
async def remediate(
    namespace: str | None,
    name: str,
    stopped: kopf.DaemonStopped,
    **kwargs: Any,
) -> None:
    state = runtime()
    index: kopf.Index[str, Playbook] = kwargs["playbooks"]  # the index above, by its name
    while not stopped:
        not_yet = state.acting_from - time.monotonic()
        if not_yet > 0:  # peering grace after start (see OperatorSettings.peering_grace)
            await stopped.wait(not_yet)
            continue
        current = [playbook for store in index.values() for playbook in store]
        try:
            delay = await asyncio.to_thread(
                state.remediator.step, namespace or "default", name, current
            )
        except Exception as error:  # the apiserver or database failed: try again later
            log.error("remediation step failed", incident=f"{namespace}/{name}", error=str(error))
            delay = 5.0
        if delay == 0:
            continue
        await stopped.wait(delay if delay is not None else state.idle_poll)


@kopf.on.delete(GROUP, VERSION, Incident.INFO.plural, optional=True)
def incident_deleted(namespace: str | None, name: str, **_: Any) -> None:
    runtime().remediator.engine.release(f"{namespace}/{name}")


__all__ = ["RUNTIME", "Runtime"]
