"""What the remediation engine needs from a platform, and nothing more.

The engine decides; an Executor acts. KubernetesExecutor (remediation/kubernetes.py) implements
this against the Kubernetes API, and is the only implementation so far.

Every changing call takes a ``marker`` (incident uid / step / attempt) that the executor writes
on the target in the same request as the change (annotation ``logsentinel.io/last-action``, with
``logsentinel.io/last-action-at``). Before acting, the engine reads the target's marker: if it
already carries this step's marker, the step was applied by an earlier run that died before
recording it, and is not applied again. The time of the last action is also what the per-target
cooldown reads, so it survives operator restarts and is shared between replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from logsentinel.domain.common import WorkloadRef
from logsentinel.domain.playbook import RunJobParams

MARKER_ANNOTATION = "logsentinel.io/last-action"
MARKER_TIME_ANNOTATION = "logsentinel.io/last-action-at"


class ExecutorError(Exception):
    """The platform refused or failed an action; the message says what and why."""


class TargetNotFoundError(ExecutorError):
    """The target workload does not exist (any more)."""


@dataclass(frozen=True)
class TargetState:
    """A workload as the guards and verification see it."""

    ref: WorkloadRef
    desired_replicas: int
    ready_replicas: int
    available_replicas: int
    updated_replicas: int
    generation: int
    observed_generation: int
    images: dict[str, str] = field(default_factory=dict)  # container name -> image
    revision: str | None = None  # Deployment revision (deployment.kubernetes.io/revision)
    last_action: str | None = None  # the marker of the last action applied
    last_action_at: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)  # pod template labels

    @property
    def rollout_complete(self) -> bool:
        """The controller has seen the latest spec and every replica runs it and is available
        (what ``kubectl rollout status`` waits for)."""
        return (
            self.observed_generation >= self.generation
            and self.updated_replicas >= self.desired_replicas
            and self.available_replicas >= self.desired_replicas
            and self.ready_replicas >= self.desired_replicas
        )


@dataclass(frozen=True)
class JobRequest:
    """A runJob step's Job: its name (the step's own, so asking twice creates one Job), its
    incident, what it runs, and the incident's variables for its environment."""

    name: str
    incident: str
    """The Incident's name (a label on the Job)."""
    params: RunJobParams
    env: dict[str, str]


class JobPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobState:
    phase: JobPhase
    message: str = ""
    """Why it failed (the Job's condition), or what it is waiting for."""
    log_tail: str = ""
    """The last lines of its log, once it finished."""


class Executor(Protocol):
    """Reads and changes workloads. Methods raise TargetNotFoundError or ExecutorError."""

    def target_state(self, target: WorkloadRef) -> TargetState: ...

    def rollout_restart(self, target: WorkloadRef, marker: str, at: datetime) -> str:
        """Restart all pods (the restartedAt pod-template annotation); returns what was done."""
        ...

    def rollback(
        self,
        target: WorkloadRef,
        marker: str,
        at: datetime,
        image: str | None = None,
        container: str | None = None,
    ) -> str:
        """Without image: back to the previous revision's pod template (kubectl rollout undo).
        With image: pin container (or the only container) to it. Returns what was done."""
        ...

    def scale(self, target: WorkloadRef, replicas: int, marker: str, at: datetime) -> str: ...

    def delete_pods(self, target: WorkloadRef, pods: list[str], marker: str, at: datetime) -> str:
        """Delete those pods if they belong to target; the marker goes on the target."""
        ...

    def run_job(self, target: WorkloadRef, job: JobRequest, marker: str, at: datetime) -> str:
        """Create the Job in the target's namespace, or find the one of that name (created
        before an operator restart); the marker goes on the target. Returns what was done."""
        ...

    def job_state(self, namespace: str, name: str) -> JobState:
        """Where the Job is: running, or finished with its log's last lines."""
        ...

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, decoded."""
        ...
