"""What each playbook step type is: how it reads in a dry run, and, for the steps that change the
cluster, which executor call applies it. One entry per step type; the engine looks a step up
here instead of branching on its type.

Adding a step type: its parameters in domain/playbook.py, an entry in STEPS (and, when it
changes the cluster, in CHANGING_STEPS there), the executor call behind it. A step that then
waits for what it started (runJob) also has a branch in the engine's WAITING state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from logsentinel.domain.playbook import RUN_JOB_ENV_PREFIX, Step, StepType
from logsentinel.domain.resources import Incident
from logsentinel.domain.types import hashed_name
from logsentinel.remediation import guards
from logsentinel.remediation.executor import Executor, ExecutorError, JobRequest, TargetState

MAX_JOB_NAME = 63
"""Job names become a label value on their pods: at most 63 characters."""


@dataclass(frozen=True)
class Change:
    """What applying a changing step needs: the target as read, the marker to write with the
    change, the time, the pods the incident's evidence names (newest first), the incident."""

    executor: Executor
    target: TargetState
    marker: str
    at: datetime
    pods: Sequence[str]
    incident: Incident


Describe = Callable[[Step, str], str]
"""(step, the target as text) -> what the step does, as a dry run reports it."""
Apply = Callable[[Step, Change], str]
"""Apply the step; returns what was done (ExecutorError when it could not be)."""


@dataclass(frozen=True)
class StepKind:
    describe: Describe
    apply: Apply | None = None
    """None: the step does not change the cluster (notify, wait, verify)."""


def span(duration: timedelta) -> str:
    """90 s -> "1m30s", as durations are written in manifests."""
    seconds = int(duration.total_seconds())
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
    return text or "0s"


def _describe_rollback(step: Step, target: str) -> str:
    image = step.rollback.image if step.rollback else None
    return f"roll back {target}" + (f" to image {image}" if image else " to its previous revision")


def _rollback(step: Step, change: Change) -> str:
    params = step.rollback
    return change.executor.rollback(
        change.target.ref,
        change.marker,
        change.at,
        image=params.image if params else None,
        container=params.container if params else None,
    )


def _describe_scale(step: Step, target: str) -> str:
    scale = step.scale
    if scale is None:
        return step.type.value
    wanted = scale.replicas if scale.replicas is not None else f"{scale.delta:+d}"
    return f"scale {target} to {wanted} replicas"


def _scale(step: Step, change: Change) -> str:
    if step.scale is None:
        raise ExecutorError("the scale step has no scale parameters")
    replicas = guards.scaled_replicas(step.scale, change.target.desired_replicas)
    return change.executor.scale(change.target.ref, replicas, change.marker, change.at)


def _delete_pods(step: Step, change: Change) -> str:
    if not change.pods:
        raise ExecutorError("the incident's evidence names no pod to delete")
    return change.executor.delete_pods(
        change.target.ref, list(change.pods), change.marker, change.at
    )


def _describe_wait(step: Step, target: str) -> str:
    return f"wait {span(step.wait.duration)}" if step.wait is not None else "wait"


def job_name(incident: str, marker: str) -> str:
    """``<incident>-<hash of the marker>``: one Job per incident, attempt and step."""
    return hashed_name(incident, marker, MAX_JOB_NAME)


def job_request(step: Step, incident: Incident, marker: str) -> JobRequest:
    """The Job a runJob step asks for, with the incident's variables."""
    if step.run_job is None:
        raise ExecutorError("the runJob step has no runJob parameters")
    spec = incident.spec
    name = incident.metadata.name
    env = {
        f"{RUN_JOB_ENV_PREFIX}INCIDENT": name,
        f"{RUN_JOB_ENV_PREFIX}RULE": spec.rule,
        f"{RUN_JOB_ENV_PREFIX}SEVERITY": spec.severity.value,
    }
    if spec.target is not None:
        env[f"{RUN_JOB_ENV_PREFIX}NAMESPACE"] = spec.target.namespace
        env[f"{RUN_JOB_ENV_PREFIX}WORKLOAD_KIND"] = spec.target.kind.value
        env[f"{RUN_JOB_ENV_PREFIX}WORKLOAD_NAME"] = spec.target.name
    return JobRequest(job_name(name, marker), name, step.run_job, env)


def _describe_run_job(step: Step, target: str) -> str:
    params = step.run_job
    if params is None:
        return step.type.value
    command = " ".join([*params.command, *params.args])
    return f"run a Job ({params.image}{': ' + command if command else ''}) for {target}"


def _run_job(step: Step, change: Change) -> str:
    job = job_request(step, change.incident, change.marker)
    return change.executor.run_job(change.target.ref, job, change.marker, change.at)


STEPS: dict[StepType, StepKind] = {
    StepType.ROLLOUT_RESTART: StepKind(
        lambda step, target: f"restart {target}",
        lambda step, change: change.executor.rollout_restart(
            change.target.ref, change.marker, change.at
        ),
    ),
    StepType.ROLLBACK: StepKind(_describe_rollback, _rollback),
    StepType.SCALE: StepKind(_describe_scale, _scale),
    StepType.DELETE_POD: StepKind(lambda step, target: f"delete pods of {target}", _delete_pods),
    StepType.NOTIFY: StepKind(lambda step, target: "notify"),
    StepType.WAIT: StepKind(_describe_wait),
    StepType.VERIFY: StepKind(
        lambda step, target: f"verify the rollout of {target} and the log signal"
    ),
    StepType.RUN_JOB: StepKind(_describe_run_job, _run_job),
}
