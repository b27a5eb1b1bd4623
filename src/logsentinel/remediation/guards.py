"""The guards checked before every cluster-changing step. Each returns a Refusal naming itself and
saying why in a sentence that goes verbatim into the audit trail, or None to let the step run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from logsentinel.domain.playbook import Guards, ScaleParams, Step, StepType
from logsentinel.remediation.executor import TargetState


@dataclass(frozen=True)
class Refusal:
    guard: str
    reason: str


@dataclass(frozen=True)
class Health:
    healthy: bool
    reason: str


def namespace_allowed(guards: Guards, namespace: str) -> Refusal | None:
    if guards.namespace_allowed(namespace):
        return None
    if guards.allowed_namespaces:
        allowed = ", ".join(guards.allowed_namespaces)
        return Refusal("allowedNamespaces", f"namespace {namespace} is not in {allowed}")
    return Refusal("allowedNamespaces", f"namespace {namespace} is protected")


def circuit_closed(circuit_open: bool, failures: int, playbook: str) -> Refusal | None:
    if not circuit_open:
        return None
    return Refusal(
        "circuitBreaker",
        f"the circuit breaker of playbook {playbook} is open after {failures} consecutive "
        f"failures; reset it with kubectl annotate playbook {playbook.split('/')[-1]} "
        "logsentinel.io/reset-circuit=true",
    )


def pipeline_healthy(health: Health) -> Refusal | None:
    if health.healthy:
        return None
    return Refusal("pipelineHealth", f"the log pipeline is unhealthy: {health.reason}")


def attempts_left(guards: Guards, attempt: int) -> Refusal | None:
    if attempt <= guards.max_attempts_per_incident:
        return None
    return Refusal(
        "maxAttemptsPerIncident",
        f"{attempt - 1} attempt(s) already made; the limit is {guards.max_attempts_per_incident}",
    )


def hourly_budget(guards: Guards, actions_last_hour: int) -> Refusal | None:
    if actions_last_hour < guards.max_actions_per_hour:
        return None
    return Refusal(
        "maxActionsPerHour",
        f"{actions_last_hour} actions in the last hour; the limit is {guards.max_actions_per_hour}",
    )


def cooled_down(
    guards: Guards, target: TargetState, run_marker_prefix: str, now: datetime
) -> Refusal | None:
    """Another run's action on this target must be at least cooldownPerTarget ago."""
    last, at = target.last_action, target.last_action_at
    if last is None or at is None or last.startswith(run_marker_prefix):
        return None
    remaining = at + guards.cooldown_per_target - now
    if remaining <= timedelta(0):
        return None
    return Refusal(
        "cooldownPerTarget",
        f"{target.ref} was changed {_ago(now - at)} ago by {last.rsplit('/', 2)[0]}; "
        f"the cooldown is {_ago(guards.cooldown_per_target)} ({_ago(remaining)} left)",
    )


def enough_healthy(guards: Guards, target: TargetState, step: Step, pods: int) -> Refusal | None:
    """The target keeps at least minHealthyReplicas available replicas, now and after the step."""
    minimum = guards.min_healthy_replicas
    available = target.available_replicas
    after = available
    if step.type is StepType.DELETE_POD:
        after = available - pods
    elif step.type is StepType.SCALE and step.scale is not None:
        after = min(available, scaled_replicas(step.scale, target.desired_replicas))
    if available < minimum:
        return Refusal(
            "minHealthyReplicas",
            f"{target.ref} has {available} available replica(s); the playbook requires at "
            f"least {minimum} before acting",
        )
    if after < minimum:
        return Refusal(
            "minHealthyReplicas",
            f"{step.step_name} would leave {target.ref} with {after} available replica(s); "
            f"the playbook requires at least {minimum}",
        )
    return None


def scaled_replicas(params: ScaleParams, current: int) -> int:
    """The replica count a scale step asks for, clamped to its bounds."""
    wanted = params.replicas if params.replicas is not None else current + (params.delta or 0)
    return max(params.min_replicas, min(params.max_replicas, wanted))


def _ago(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
