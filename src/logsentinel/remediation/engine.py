"""The playbook engine: moves one incident's remediation forward by at most one side effect.

``advance`` reads the incident (with its progress annotation), the playbooks and the target, and
returns an Outcome: the new progress, status changes, audit entries and events. The caller
persists the outcome before calling again. Every side effect (a cluster change or a notification)
happens in a call whose intent was persisted by the previous call (state STARTED), and every
cluster change carries a marker written on the target in the same request; so a run interrupted
at any point (operator killed, another replica taking over) resumes without repeating a step:

    READY --(intent persisted)--> STARTED --(step applied, or found applied by its marker)--> READY
    READY --> WAITING (wait/verify) --> READY        ... --> FINISHED
    READY --> STARTED --(Job created, or found by its name)--> WAITING (runJob) --> READY

Nothing here knows Kopf or Kubernetes: an Executor acts on workloads and a World answers the
questions about history, pipeline health, the log signal and notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from logsentinel.domain.audit import OPERATOR_ACTOR, AuditEntry
from logsentinel.domain.incident import (
    APPROVED_ANNOTATION,
    FINAL_PHASES,
    ActionRecord,
    ActionResult,
    IncidentPhase,
    IncidentStatus,
)
from logsentinel.domain.playbook import (
    CHANGING_STEPS,
    OnFailure,
    PlaybookMode,
    Step,
    StepType,
)
from logsentinel.domain.remediation import (
    APPROVED_BY_ANNOTATION,
    PROGRESS_ANNOTATION,
    RemediationProgress,
    RunOutcome,
    RunState,
)
from logsentinel.domain.resources import Incident, Playbook
from logsentinel.domain.types import flag
from logsentinel.remediation import guards
from logsentinel.remediation.executor import (
    Executor,
    ExecutorError,
    JobPhase,
    TargetNotFoundError,
    TargetState,
)
from logsentinel.remediation.guards import Health, Refusal
from logsentinel.remediation.matching import choose
from logsentinel.remediation.steps import STEPS, Change, job_request, span
from logsentinel.remediation.verify import Verdict

POLL = 2.0
"""Seconds between checks while waiting for approval, a rollout, a Job or the log signal."""
JOB_GRACE = timedelta(minutes=1)
"""Beyond a runJob step's timeout, the time Kubernetes gets to mark the Job failed."""
MAX_ACTION_MESSAGE = 1024


class World(Protocol):
    """What the engine asks about besides workloads."""

    def actions_last_hour(self, playbook: str, now: datetime) -> int: ...

    def pipeline_health(self, max_lag: timedelta) -> Health: ...

    def signal(self, incident: Incident, since: datetime, now: datetime) -> Verdict: ...

    def notify(self, incident: Incident, playbook: Playbook, step: Step, note: str) -> str:
        """Send the notification; returns what was done or raises an Exception saying why."""
        ...


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False
    on_target: bool = False


@dataclass
class Outcome:
    """What to persist. None/empty fields mean unchanged."""

    progress: RemediationProgress | None = None
    phase: IncidentPhase | None = None
    playbook: str | None = None
    actions: list[ActionRecord] | None = None
    resolution: str | None = None
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    playbook_succeeded: bool | None = None  # feeds the playbook's circuit breaker
    recheck_after: float | None = None

    @property
    def changed(self) -> bool:
        return self.progress is not None or self.phase is not None or self.actions is not None


def read_progress(incident: Incident) -> RemediationProgress | None:
    text = incident.metadata.annotations.get(PROGRESS_ANNOTATION)
    if not text:
        return None
    try:
        return RemediationProgress.model_validate_json(text)
    except ValidationError:
        return None


def key_of(resource: Incident | Playbook) -> str:
    return f"{resource.metadata.namespace}/{resource.metadata.name}"


class RemediationEngine:
    """Decides and performs remediation steps. One engine per operator process."""

    def __init__(self, executor: Executor, world: World, central_namespace: str | None) -> None:
        self.executor = executor
        self.world = world
        self.central_namespace = central_namespace
        self._target_owner: dict[str, str] = {}  # target -> incident running a playbook on it

    # --- entry point --------------------------------------------------------------------------

    def advance(self, incident: Incident, playbooks: Sequence[Playbook], now: datetime) -> Outcome:
        progress = read_progress(incident)
        status = incident.status or IncidentStatus()
        if progress is None:
            if status.phase in FINAL_PHASES:
                return Outcome()
            return self._start(incident, playbooks, 1, now)
        playbook = next((p for p in playbooks if key_of(p) == progress.playbook), None)
        if progress.state is RunState.FINISHED:
            return self._maybe_retry(incident, playbooks, progress, status, now)
        if playbook is None:
            return self._finish(
                incident,
                None,
                progress,
                now,
                RunOutcome.FAILED,
                f"playbook {progress.playbook} no longer exists",
            )
        run = _Run(self, incident, playbook, progress, status, now)
        return run.advance()

    def release(self, incident: str) -> None:
        """Forget the target slot held by an incident (namespace/name) that finished or is gone."""
        for target, owner in list(self._target_owner.items()):
            if owner == incident:
                del self._target_owner[target]

    # --- starting and retrying runs ----------------------------------------------------------

    def _start(
        self, incident: Incident, playbooks: Sequence[Playbook], attempt: int, now: datetime
    ) -> Outcome:
        labels = self._target_labels(incident)
        playbook = choose(playbooks, incident, labels, self.central_namespace)
        if playbook is None:
            return Outcome()
        spec = playbook.spec
        progress = RemediationProgress(
            playbook=key_of(playbook),
            mode=spec.mode,
            attempt=attempt,
            started_at=now,
        )
        outcome = Outcome(progress=progress, playbook=playbook.metadata.name, recheck_after=0)
        refusal = guards.attempts_left(spec.guards, attempt)
        if refusal is not None:
            run = _Run(self, incident, playbook, progress, incident.status or IncidentStatus(), now)
            return run.refuse(spec.steps[0], refusal)
        if spec.mode is PlaybookMode.APPROVAL and not _approved(incident):
            progress.state = RunState.AWAITING_APPROVAL
            progress.waiting_for = "approval"
            outcome.phase = IncidentPhase.AWAITING_APPROVAL
            outcome.recheck_after = POLL
            outcome.events.append(
                Event(
                    "AwaitingApproval",
                    f"playbook {playbook.metadata.name} waits for approval: kubectl annotate "
                    f"incident {incident.metadata.name} {APPROVED_ANNOTATION}=true",
                )
            )
            outcome.audit.append(
                _audit(incident, playbook, None, "awaitApproval", "Pending", now, "approval mode")
            )
            return outcome
        outcome.phase = IncidentPhase.REMEDIATING if spec.mode is not PlaybookMode.DRY_RUN else None
        outcome.events.append(
            Event(
                "RemediationStarted",
                f"playbook {playbook.metadata.name} ({spec.mode.value}) attempt {attempt}",
            )
        )
        return outcome

    def _maybe_retry(
        self,
        incident: Incident,
        playbooks: Sequence[Playbook],
        progress: RemediationProgress,
        status: IncidentStatus,
        now: datetime,
    ) -> Outcome:
        """The incident fired again after a run that did not escalate: another attempt."""
        if status.phase is IncidentPhase.ESCALATED or progress.outcome is not RunOutcome.SUCCEEDED:
            return Outcome()
        finished = progress.finished_at or progress.started_at
        if incident.spec.last_seen <= finished:
            return Outcome()
        return self._start(incident, playbooks, progress.attempt + 1, now)

    def _finish(
        self,
        incident: Incident,
        playbook: Playbook | None,
        progress: RemediationProgress,
        now: datetime,
        result: RunOutcome,
        message: str,
    ) -> Outcome:
        progress.state = RunState.FINISHED
        progress.outcome = result
        progress.finished_at = now
        progress.waiting_for = None
        self.release(key_of(incident))
        phase = IncidentPhase.ESCALATED if result is not RunOutcome.SUCCEEDED else None
        return Outcome(
            progress=progress,
            phase=phase,
            resolution=_fit(message),
            events=[Event("RemediationFailed", message, warning=True)],
            audit=[_audit(incident, playbook, None, "finish", result.value, now, message)],
        )

    def _target_labels(self, incident: Incident) -> dict[str, str]:
        target = incident.spec.target
        if target is None:
            return {}
        try:
            return self.executor.target_state(target).labels
        except ExecutorError:
            return {}

    def claim(self, target: str, incident: str) -> str | None:
        """Take the per-target slot for incident; the incident holding it when it is taken."""
        owner = self._target_owner.setdefault(target, incident)
        return None if owner == incident else owner


class _Run:
    """One advance of one playbook run."""

    def __init__(
        self,
        engine: RemediationEngine,
        incident: Incident,
        playbook: Playbook,
        progress: RemediationProgress,
        status: IncidentStatus,
        now: datetime,
    ) -> None:
        self.engine = engine
        self.incident = incident
        self.playbook = playbook
        self.progress = progress.model_copy(deep=True)
        self.actions = list(status.actions)
        self.now = now
        self.dry_run = progress.mode is PlaybookMode.DRY_RUN
        self.name = key_of(playbook)

    @property
    def marker_prefix(self) -> str:
        return f"{self.incident.metadata.uid or key_of(self.incident)}/{self.progress.attempt}/"

    def marker(self, step: Step) -> str:
        return self.marker_prefix + step.step_name

    # --- dispatch ------------------------------------------------------------------------------

    def advance(self) -> Outcome:
        state = self.progress.state
        if state is RunState.AWAITING_APPROVAL:
            return self._check_approval()
        steps = self.playbook.spec.steps
        if self.progress.step >= len(steps):
            return self._complete()
        step = steps[self.progress.step]
        if state is RunState.READY:
            return self._begin(step)
        if state is RunState.STARTED:
            return self._perform(step)
        return self._keep_waiting(step)

    def _check_approval(self) -> Outcome:
        if not _approved(self.incident):
            return Outcome(recheck_after=POLL)
        who = self.incident.metadata.annotations.get(APPROVED_BY_ANNOTATION, "kubectl annotate")
        self.progress.state = RunState.READY
        self.progress.waiting_for = None
        return Outcome(
            progress=self.progress,
            phase=IncidentPhase.REMEDIATING,
            recheck_after=0,
            events=[Event("RemediationApproved", f"approved by {who}")],
            audit=[
                _audit(
                    self.incident,
                    self.playbook,
                    None,
                    "approve",
                    "Succeeded",
                    self.now,
                    f"approved by {who}",
                    actor=who,
                )
            ],
        )

    # --- READY: record the intent (or do a dry run) -------------------------------------------

    def _begin(self, step: Step) -> Outcome:
        if self.dry_run and step.type is not StepType.NOTIFY:
            return self._dry_run(step)
        if step.type in CHANGING_STEPS and self.incident.spec.target is not None:
            owner = self.engine.claim(str(self.incident.spec.target), key_of(self.incident))
            if owner is not None:
                waiting = f"{self.incident.spec.target} is being remediated for incident {owner}"
                if self.progress.waiting_for == waiting:
                    return Outcome(recheck_after=POLL)
                self.progress.waiting_for = waiting
                return Outcome(progress=self.progress, recheck_after=POLL)
        waiting_step = step.type in (StepType.WAIT, StepType.VERIFY)
        self.progress.state = RunState.WAITING if waiting_step else RunState.STARTED
        self.progress.step_started_at = self.now
        self.progress.rollout_done_at = None
        self.progress.waiting_for = None
        last = self.actions[-1] if self.actions else None
        if not (last and last.step == step.step_name and last.result is ActionResult.PENDING):
            # (a pending record is already there when the intent's annotation was lost)
            self.actions.append(self._action(step, ActionResult.PENDING))
        return Outcome(progress=self.progress, actions=self.actions, recheck_after=0)

    def _dry_run(self, step: Step) -> Outcome:
        message = f"would {_describe(step, self.incident)}"
        self.progress.step += 1
        outcome = Outcome(progress=self.progress, actions=self.actions, recheck_after=0)
        if any(
            a.step == step.step_name and a.dry_run and a.started_at >= self.run_started
            for a in self.actions
        ):
            return outcome  # recorded before the progress annotation was lost
        self.actions.append(self._action(step, ActionResult.DRY_RUN, message))
        outcome.audit.append(self._audit(step, ActionResult.DRY_RUN, message))
        outcome.events.append(Event("DryRun", f"{step.step_name}: {message}"))
        return outcome

    # --- STARTED: guards, then the one side effect --------------------------------------------

    def _perform(self, step: Step) -> Outcome:
        if step.type is StepType.NOTIFY:
            try:
                message = self.engine.world.notify(self.incident, self.playbook, step, "")
            except Exception as error:  # any failure to notify is reported, never raised
                return self._step_failed(step, f"notify failed: {error}")
            return self._step_done(step, message)
        target_ref = self.incident.spec.target
        if target_ref is None:
            return self.refuse(step, Refusal("target", "the incident has no target workload"))
        try:
            target = self.engine.executor.target_state(target_ref)
        except TargetNotFoundError as error:
            return self._step_failed(step, str(error))
        except ExecutorError as error:
            return self._step_failed(step, f"cannot read {target_ref}: {error}")
        marker = self.marker(step)
        if target.last_action == marker:
            if step.type is StepType.RUN_JOB:  # the Job exists: wait for it
                return self._await_job(step, "Job started before the operator restarted")
            return self._step_done(step, "already applied before the operator restarted")
        refusal = self._guard(step, target)
        if refusal is not None:
            return self.refuse(step, refusal)
        try:
            message = self._apply(step, target, marker)
        except ExecutorError as error:
            return self._step_failed(step, str(error))
        if step.type is StepType.RUN_JOB:
            return self._await_job(step, message)
        return self._step_done(step, message, changed=True)

    def _guard(self, step: Step, target: TargetState) -> Refusal | None:
        spec = self.playbook.spec
        status = self.playbook.status
        checks: tuple[Callable[[], Refusal | None], ...] = (
            lambda: guards.namespace_allowed(spec.guards, target.ref.namespace),
            lambda: guards.circuit_closed(
                bool(status and status.circuit_open),
                status.consecutive_failures if status else 0,
                self.name,
            ),
            lambda: guards.pipeline_healthy(
                self.engine.world.pipeline_health(spec.guards.max_pipeline_lag)
            ),
            lambda: guards.hourly_budget(
                spec.guards, self.engine.world.actions_last_hour(self.name, self.now)
            ),
            lambda: guards.cooled_down(spec.guards, target, self.marker_prefix, self.now),
            lambda: guards.enough_healthy(
                spec.guards, target, step, len(self._pods_to_delete(step))
            ),
        )
        for check in checks:
            refusal = check()
            if refusal is not None:
                return refusal
        return None

    def _apply(self, step: Step, target: TargetState, marker: str) -> str:
        apply = STEPS[step.type].apply
        if apply is None:
            raise ExecutorError(f"step type {step.type.value} does not change the cluster")
        pods = self._pods_to_delete(step)
        change = Change(self.engine.executor, target, marker, self.now, pods, self.incident)
        return apply(step, change)

    def _pods_to_delete(self, step: Step) -> list[str]:
        if step.type is not StepType.DELETE_POD:
            return []
        limit = step.delete_pod.max_pods if step.delete_pod else 1
        newest_first = sorted(
            self.incident.spec.evidence.samples, key=lambda s: s.timestamp, reverse=True
        )
        pods: list[str] = []
        for sample in newest_first:
            if sample.pod and sample.pod not in pods:
                pods.append(sample.pod)
        return pods[:limit]

    # --- WAITING: wait and verify -------------------------------------------------------------

    def _await_job(self, step: Step, message: str) -> Outcome:
        """The runJob step's Job exists: record that, then wait for it (state WAITING)."""
        self.progress.state = RunState.WAITING
        self._update_pending(step, {"message": message[:MAX_ACTION_MESSAGE]})
        return Outcome(progress=self.progress, actions=self.actions, recheck_after=POLL)

    def _check_job(self, step: Step, started: datetime) -> Outcome:
        target = self.incident.spec.target
        if target is None or step.run_job is None:
            return self._step_failed(step, "the runJob step has no target or parameters")
        try:
            job = job_request(step, self.incident, self.marker(step))
            state = self.engine.executor.job_state(target.namespace, job.name)
        except ExecutorError as error:
            return self._step_failed(step, str(error))
        where = f"Job {target.namespace}/{job.name}"
        if state.phase is JobPhase.RUNNING:
            if self.now - started > step.run_job.timeout + JOB_GRACE:
                return self._step_failed(
                    step, f"{where} did not finish within {span(step.run_job.timeout)}"
                )
            return Outcome(recheck_after=POLL)
        head = f"{where} {state.phase.value.lower()}"
        if state.message:
            head += f" ({state.message})"
        message = _with_log_tail(head, state.log_tail)
        if state.phase is JobPhase.SUCCEEDED:
            return self._step_done(step, message, changed=True)
        return self._step_failed(step, message)

    def _keep_waiting(self, step: Step) -> Outcome:
        started = self.progress.step_started_at or self.now
        if step.type is StepType.RUN_JOB:
            return self._check_job(step, started)
        if step.type is StepType.WAIT and step.wait is not None:
            remaining = (started + step.wait.duration - self.now).total_seconds()
            if remaining > 0:
                return Outcome(recheck_after=min(remaining, 30.0))
            return self._step_done(step, f"waited {span(step.wait.duration)}")
        return self._verify(step, started)

    def _verify(self, step: Step, started: datetime) -> Outcome:
        verification = self.playbook.spec.verification
        within = (step.verify.within if step.verify else None) or verification.window
        target_ref = self.incident.spec.target
        if self.progress.rollout_done_at is None:
            if target_ref is not None:
                try:
                    target = self.engine.executor.target_state(target_ref)
                except ExecutorError as error:
                    return self._step_failed(step, f"verification failed: {error}")
                if not target.rollout_complete:
                    if self.now - started > verification.rollout_timeout:
                        return self._step_failed(
                            step,
                            f"verification failed: the rollout of {target_ref} did not complete "
                            f"within {span(verification.rollout_timeout)} "
                            f"({target.updated_replicas}/{target.desired_replicas} updated, "
                            f"{target.available_replicas} available)",
                        )
                    return Outcome(recheck_after=POLL)
            self.progress.rollout_done_at = self.now
            if not verification.require_signal_recovery:
                return self._step_done(step, "rollout complete")
            return Outcome(progress=self.progress, recheck_after=POLL)
        if not verification.require_signal_recovery:
            return self._step_done(step, "rollout complete")
        health = self.engine.world.pipeline_health(self.playbook.spec.guards.max_pipeline_lag)
        verdict = (
            self.engine.world.signal(self.incident, self.progress.rollout_done_at, self.now)
            if health.healthy
            else Verdict(None, f"the log pipeline is unhealthy: {health.reason}")
        )
        if verdict.recovered:
            return self._step_done(
                step, f"rollout complete and signal recovered: {verdict.message}"
            )
        if self.now - started > within:
            why = "signal still high" if verdict.recovered is False else "could not tell"
            return self._step_failed(
                step, f"verification failed within {span(within)}: {why}: {verdict.message}"
            )
        return Outcome(recheck_after=POLL)

    # --- step results -------------------------------------------------------------------------

    def _update_pending(self, step: Step, update: dict[str, Any]) -> bool:
        """Change the step's latest pending record; False when it has none."""
        for index in range(len(self.actions) - 1, -1, -1):
            action = self.actions[index]
            if action.step == step.step_name and action.result is ActionResult.PENDING:
                self.actions[index] = action.model_copy(update=update)
                return True
        return False

    def _close_action(
        self, step: Step, result: ActionResult, message: str, guard: str | None
    ) -> bool:
        """Finish the step's pending record; False when this run already recorded the result
        (the progress annotation was lost after the status was written)."""
        finished = {
            "finished_at": self.now,
            "result": result,
            "message": message[:MAX_ACTION_MESSAGE],
            "guard": guard,
        }
        if self._update_pending(step, finished):
            return True
        if any(
            a.step == step.step_name and a.result is result and a.started_at >= self.run_started
            for a in self.actions
        ):
            return False
        self.actions.append(self._action(step, result, message, guard))
        return True

    def _action(
        self, step: Step, result: ActionResult, message: str = "", guard: str | None = None
    ) -> ActionRecord:
        """A record of step in status.actions; finished unless it is still pending."""
        return ActionRecord(
            playbook=self.playbook.metadata.name,
            step=step.step_name,
            type=step.type,
            started_at=self.now,
            finished_at=None if result is ActionResult.PENDING else self.now,
            result=result,
            message=message[:1024],
            guard=guard,
            dry_run=result is ActionResult.DRY_RUN,
        )

    @property
    def run_started(self) -> datetime:
        return self.progress.started_at

    def _step_done(self, step: Step, message: str, changed: bool = False) -> Outcome:
        recorded = self._close_action(step, ActionResult.SUCCEEDED, message, None)
        self.progress.step += 1
        self.progress.state = RunState.READY
        self.progress.step_started_at = None
        outcome = Outcome(progress=self.progress, actions=self.actions, recheck_after=0)
        if not recorded:
            return outcome
        outcome.audit.append(self._audit(step, ActionResult.SUCCEEDED, message))
        outcome.events.append(
            Event("RemediationStep", f"{step.step_name}: {message}", on_target=changed)
        )
        return outcome

    def refuse(self, step: Step, refusal: Refusal) -> Outcome:
        self._close_action(step, ActionResult.REFUSED, refusal.reason, refusal.guard)
        message = f"{step.step_name} refused by guard {refusal.guard}: {refusal.reason}"
        outcome = self.engine._finish(
            self.incident, self.playbook, self.progress, self.now, RunOutcome.REFUSED, message
        )
        outcome.actions = self.actions
        outcome.playbook = self.playbook.metadata.name
        outcome.audit.insert(
            0, self._audit(step, ActionResult.REFUSED, refusal.reason, guard=refusal.guard)
        )
        outcome.events = [
            Event("RemediationRefused", message, warning=True),
            Event("RemediationRefused", message, warning=True, on_target=True),
        ]
        return outcome

    def _step_failed(self, step: Step, message: str) -> Outcome:
        self._close_action(step, ActionResult.FAILED, message, None)
        audit = [self._audit(step, ActionResult.FAILED, message)]
        events = [Event("RemediationStepFailed", f"{step.step_name}: {message}", warning=True)]
        if self.playbook.spec.on_failure is OnFailure.ROLLBACK and step.type is not StepType.NOTIFY:
            undo = Step(type=StepType.ROLLBACK, name="on-failure-rollback")
            result, done = self._undo(undo)
            if self._close_action(undo, result, done, None):
                audit.append(self._audit(undo, result, done))
                if result is ActionResult.SUCCEEDED:
                    events.append(Event("RemediationRolledBack", done, on_target=True))
        outcome = self.engine._finish(
            self.incident,
            self.playbook,
            self.progress,
            self.now,
            RunOutcome.FAILED,
            f"{step.step_name} failed: {message}; escalated",
        )
        outcome.actions = self.actions
        outcome.audit = audit + outcome.audit
        outcome.events = events + outcome.events
        outcome.playbook_succeeded = False
        return outcome

    def _undo(self, undo: Step) -> tuple[ActionResult, str]:
        """onFailure: rollback, applied once (its marker), only when this run changed the target
        and only while the pipeline is healthy (a failure to tell is no reason to act)."""
        target_ref = self.incident.spec.target
        changed = any(
            a.type in CHANGING_STEPS
            and a.type is not StepType.RUN_JOB  # a Job leaves the workload's template alone
            and a.result is ActionResult.SUCCEEDED
            and a.started_at >= self.run_started
            for a in self.actions
        )
        if target_ref is None or not changed:
            return ActionResult.SKIPPED, "this run changed nothing: nothing to roll back"
        health = self.engine.world.pipeline_health(self.playbook.spec.guards.max_pipeline_lag)
        if not health.healthy:
            return (
                ActionResult.REFUSED,
                f"not rolling back: the log pipeline is unhealthy: {health.reason}",
            )
        marker = self.marker(undo)
        try:
            if self.engine.executor.target_state(target_ref).last_action == marker:
                return ActionResult.SUCCEEDED, "already rolled back before the operator restarted"
            return ActionResult.SUCCEEDED, self.engine.executor.rollback(
                target_ref, marker, self.now
            )
        except ExecutorError as error:
            return ActionResult.FAILED, str(error)

    def _complete(self) -> Outcome:
        verified = any(
            a.type is StepType.VERIFY
            and a.result is ActionResult.SUCCEEDED
            and a.playbook == self.playbook.metadata.name
            and a.started_at >= self.progress.started_at
            for a in self.actions
        )
        self.progress.state = RunState.FINISHED
        self.progress.finished_at = self.now
        self.engine.release(key_of(self.incident))
        name = self.playbook.metadata.name
        if self.dry_run:
            self.progress.outcome = RunOutcome.DRY_RUN
            message = f"dry run of playbook {name} recorded; nothing was changed"
            return Outcome(
                progress=self.progress,
                events=[Event("DryRunComplete", message)],
                audit=[
                    _audit(
                        self.incident,
                        self.playbook,
                        None,
                        "finish",
                        "DryRun",
                        self.now,
                        message,
                        dry_run=True,
                    )
                ],
            )
        self.progress.outcome = RunOutcome.SUCCEEDED
        if verified:
            phase, message = IncidentPhase.RESOLVED, f"remediated by playbook {name}; verified"
        else:
            phase, message = IncidentPhase.MITIGATED, f"playbook {name} completed (not verified)"
        return Outcome(
            progress=self.progress,
            phase=phase,
            resolution=message,
            playbook_succeeded=True,
            events=[Event("RemediationSucceeded", message)],
            audit=[
                _audit(self.incident, self.playbook, None, "finish", "Succeeded", self.now, message)
            ],
        )

    def _audit(
        self, step: Step, result: ActionResult, message: str, guard: str | None = None
    ) -> AuditEntry:
        return _audit(
            self.incident,
            self.playbook,
            step,
            step.type.value,
            result.value,
            self.now,
            message,
            guard=guard,
            dry_run=result is ActionResult.DRY_RUN,
        )


def _fit(message: str) -> str:
    """A message cut to what a status text field holds."""
    if len(message) <= MAX_ACTION_MESSAGE:
        return message
    return message[: MAX_ACTION_MESSAGE - 1] + "…"


def _with_log_tail(head: str, log_tail: str) -> str:
    """``head``, then as much of the log's end as an action's message holds."""
    log_tail = log_tail.strip()
    if not log_tail:
        return head
    head += "; last log lines:\n"
    room = MAX_ACTION_MESSAGE - len(head)
    if len(log_tail) <= room:
        return head + log_tail
    return head + "…" + log_tail[len(log_tail) - room + 1 :] if room > 1 else head


def _approved(incident: Incident) -> bool:
    value = incident.metadata.annotations.get(APPROVED_ANNOTATION, "")
    return flag(value) is True


def _describe(step: Step, incident: Incident) -> str:
    target = str(incident.spec.target) if incident.spec.target else "the target"
    return STEPS[step.type].describe(step, target)


def _audit(
    incident: Incident,
    playbook: Playbook | None,
    step: Step | None,
    action: str,
    result: str,
    now: datetime,
    message: str,
    guard: str | None = None,
    dry_run: bool = False,
    actor: str = OPERATOR_ACTOR,
) -> AuditEntry:
    target = incident.spec.target
    return AuditEntry(
        at=now,
        actor=actor,
        action=action,
        result=result,
        incident=key_of(incident),
        playbook=key_of(playbook) if playbook else None,
        step=step.step_name if step else None,
        target_kind=target.kind.value if target else None,
        target_namespace=target.namespace if target else None,
        target_name=target.name if target else None,
        guard=guard,
        dry_run=dry_run,
        message=message,
    )
