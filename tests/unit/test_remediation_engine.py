"""RemediationEngine.advance against in-memory fakes: the state machine, restart safety, dry runs,
approval, every guard, verification, waits, one action at a time per target.

FakeExecutor and FakeWorld below implement the Executor and World protocols; Operator simulates
the persistence loop of operator/remediator.py (status first, then the progress annotation) with
an explicit clock: time only moves when a test moves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logsentinel.domain.audit import AuditEntry
from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.domain.incident import (
    APPROVED_ANNOTATION,
    ActionRecord,
    ActionResult,
    IncidentPhase,
    IncidentStatus,
)
from logsentinel.domain.playbook import Step, StepType
from logsentinel.domain.remediation import (
    APPROVED_BY_ANNOTATION,
    PROGRESS_ANNOTATION,
    RemediationProgress,
    RunOutcome,
    RunState,
)
from logsentinel.domain.resources import Incident, Playbook
from logsentinel.remediation.engine import POLL, Event, Outcome, RemediationEngine, read_progress
from logsentinel.remediation.executor import (
    ExecutorError,
    JobPhase,
    JobRequest,
    JobState,
    TargetNotFoundError,
    TargetState,
)
from logsentinel.remediation.guards import Health
from logsentinel.remediation.verify import Verdict

T0 = datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
FIRST_SEEN = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LAST_SEEN = datetime(2026, 11, 22, 12, 1, tzinfo=UTC)
CENTRAL = "logsentinel"
TARGET = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="shop", name="checkout")
TARGET_NAME = "Deployment/shop/checkout"

RESTART: dict[str, Any] = {"type": "rolloutRestart"}
VERIFY: dict[str, Any] = {"type": "verify"}
NOTIFY: dict[str, Any] = {
    "type": "notify",
    "notify": {"webhook": {"url": "https://hooks.example.com/x"}},
}


def scale(replicas: int) -> dict[str, Any]:
    return {"type": "scale", "scale": {"replicas": replicas}}


def wait(duration: str) -> dict[str, Any]:
    return {"type": "wait", "wait": {"duration": duration}}


def delete_pods(max_pods: int = 1) -> dict[str, Any]:
    return {"type": "deletePod", "deletePod": {"maxPods": max_pods}}


# --- fakes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    target: str
    marker: str
    at: datetime
    detail: Any = None


class FakeExecutor:
    """Workloads in a dict. Every changing call records itself and writes the marker on the
    target (like the annotations the real executor patches in the same request)."""

    def __init__(self) -> None:
        self.targets: dict[str, TargetState] = {}
        self.calls: list[Call] = []
        self.error: ExecutorError | None = None  # raised by changing calls when set
        self.jobs: dict[str, JobState] = {}  # Job name -> where it is
        self.job_requests: dict[str, JobRequest] = {}

    def add(self, ref: WorkloadRef = TARGET, replicas: int = 3, **fields: Any) -> None:
        state = TargetState(
            ref=ref,
            desired_replicas=replicas,
            ready_replicas=replicas,
            available_replicas=replicas,
            updated_replicas=replicas,
            generation=1,
            observed_generation=1,
        )
        self.targets[str(ref)] = replace(state, **fields)

    def set(self, ref: WorkloadRef = TARGET, **fields: Any) -> None:
        self.targets[str(ref)] = replace(self.targets[str(ref)], **fields)

    def state(self, ref: WorkloadRef = TARGET) -> TargetState:
        return self.targets[str(ref)]

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    # Executor protocol

    def target_state(self, target: WorkloadRef) -> TargetState:
        if str(target) not in self.targets:
            raise TargetNotFoundError(f"{target} not found")
        return self.targets[str(target)]

    def _change(
        self, method: str, target: WorkloadRef, marker: str, at: datetime, detail: Any = None
    ) -> None:
        self.calls.append(Call(method, str(target), marker, at, detail))
        if self.error is not None:
            raise self.error
        self.set(target, last_action=marker, last_action_at=at)

    def rollout_restart(self, target: WorkloadRef, marker: str, at: datetime) -> str:
        self._change("rollout_restart", target, marker, at)
        return f"restarted {target}"

    def rollback(
        self,
        target: WorkloadRef,
        marker: str,
        at: datetime,
        image: str | None = None,
        container: str | None = None,
    ) -> str:
        self._change("rollback", target, marker, at, image)
        return f"rolled back {target}"

    def scale(self, target: WorkloadRef, replicas: int, marker: str, at: datetime) -> str:
        self._change("scale", target, marker, at, replicas)
        self.set(
            target,
            desired_replicas=replicas,
            ready_replicas=replicas,
            available_replicas=replicas,
            updated_replicas=replicas,
        )
        return f"scaled {target} to {replicas}"

    def delete_pods(self, target: WorkloadRef, pods: list[str], marker: str, at: datetime) -> str:
        self._change("delete_pods", target, marker, at, list(pods))
        return f"deleted {', '.join(pods)}"

    def run_job(self, target: WorkloadRef, job: JobRequest, marker: str, at: datetime) -> str:
        self._change("run_job", target, marker, at, job.name)
        self.job_requests[job.name] = job
        self.jobs.setdefault(job.name, JobState(JobPhase.RUNNING))
        return f"Job {job.name} started"

    def job_state(self, namespace: str, name: str) -> JobState:
        if name not in self.jobs:
            raise ExecutorError(f"Job {namespace}/{name} not found")
        return self.jobs[name]

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        return {}


class FakeWorld:
    """Settable answers; notify records what it sent or raises notify_error."""

    def __init__(self) -> None:
        self.health = Health(True, "lag 1s")
        self.hourly = 0
        self.verdict = Verdict(True, "3 errors per 1 min (fired at 50)")
        self.notify_error: Exception | None = None
        self.notified: list[str] = []
        self.signal_calls: list[tuple[datetime, datetime]] = []

    def actions_last_hour(self, playbook: str, now: datetime) -> int:
        return self.hourly

    def pipeline_health(self, max_lag: timedelta) -> Health:
        return self.health

    def signal(self, incident: Incident, since: datetime, now: datetime) -> Verdict:
        self.signal_calls.append((since, now))
        return self.verdict

    def notify(self, incident: Incident, playbook: Playbook, step: Step, note: str) -> str:
        if self.notify_error is not None:
            raise self.notify_error
        self.notified.append(step.step_name)
        return f"sent {step.step_name}"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Rig:
    """One operator process (its engine can be restarted) and the world it acts on."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.executor = FakeExecutor()
        self.world = FakeWorld()
        self.engine = RemediationEngine(self.executor, self.world, CENTRAL)

    def restart_operator(self) -> None:
        self.engine = RemediationEngine(self.executor, self.world, CENTRAL)

    def operator(self, incident: Incident, *playbooks: Playbook) -> Operator:
        return Operator(self, incident, list(playbooks))


def persist(
    incident: Incident, outcome: Outcome, *, status: bool = True, progress: bool = True
) -> Incident:
    """What operator/remediator.py writes, round-tripped through the wire form."""
    document = incident.to_wire()
    if status:
        current = dict(document.get("status") or {})
        if outcome.phase is not None:
            current["phase"] = outcome.phase.value
        if outcome.playbook is not None:
            current["playbook"] = outcome.playbook
        if outcome.actions is not None:
            current["actions"] = [action.to_wire() for action in outcome.actions]
        if outcome.resolution is not None:
            current["resolution"] = outcome.resolution
        document["status"] = current
    if progress and outcome.progress is not None:
        annotations = document["metadata"].setdefault("annotations", {})
        annotations[PROGRESS_ANNOTATION] = json.dumps(outcome.progress.to_wire())
    return Incident.model_validate(document)


class Operator:
    """The persistence loop for one incident."""

    def __init__(self, rig: Rig, incident: Incident, playbooks: list[Playbook]) -> None:
        self.rig = rig
        self.incident = incident
        self.playbooks = playbooks
        self.log: list[tuple[Outcome, list[Call]]] = []  # every advance and its changing calls
        self.audit: list[AuditEntry] = []
        self.events: list[Event] = []

    def advance(self) -> Outcome:
        """One call of the engine, not persisted (a crash right after it)."""
        before = len(self.rig.executor.calls)
        outcome = self.rig.engine.advance(self.incident, self.playbooks, self.rig.clock.now)
        self.log.append((outcome, self.rig.executor.calls[before:]))
        return outcome

    def step(self) -> Outcome:
        outcome = self.advance()
        self.incident = persist(self.incident, outcome)
        self.audit += outcome.audit
        self.events += outcome.events
        return outcome

    def run(self, limit: int = 50) -> Outcome:
        """Call again while the engine asks for it right away or keeps changing things."""
        for _ in range(limit):
            outcome = self.step()
            again = outcome.recheck_after
            if again is None or (again > 0 and not outcome.changed):
                return outcome
        raise AssertionError("the engine did not settle")

    def run_for(self, seconds: float) -> Outcome:
        """Run, then sleep (on the fake clock) as long as recheck_after says, until seconds pass."""
        end = self.rig.clock.now + timedelta(seconds=seconds)
        outcome = self.run()
        while outcome.recheck_after is not None and self.rig.clock.now < end:
            self.rig.clock.advance(outcome.recheck_after)
            outcome = self.run()
        return outcome

    def step_until(self, done: Callable[[Operator], bool], limit: int = 50) -> None:
        for _ in range(limit):
            if done(self):
                return
            self.step()
        raise AssertionError("condition never reached")

    @property
    def progress(self) -> RemediationProgress:
        progress = read_progress(self.incident)
        assert progress is not None
        return progress

    @property
    def status(self) -> IncidentStatus:
        return self.incident.status or IncidentStatus()

    @property
    def actions(self) -> list[tuple[str, ActionResult]]:
        return [(action.step, action.result) for action in self.status.actions]

    def action(self, step: str) -> ActionRecord:
        """The latest action record of step."""
        return [action for action in self.status.actions if action.step == step][-1]


def state_is(state: RunState, step: int | None = None) -> Callable[[Operator], bool]:
    def check(op: Operator) -> bool:
        progress = read_progress(op.incident)
        return (
            progress is not None
            and progress.state is state
            and (step is None or progress.step == step)
        )

    return check


def make_incident(
    name: str = "inc-a",
    *,
    uid: str | None = "uid-a",
    namespace: str = "shop",
    target: WorkloadRef | None = TARGET,
    annotations: dict[str, str] | None = None,
    pods: tuple[str, ...] = (),
) -> Incident:
    """An incident; pods are evidence samples, oldest first."""
    samples = [
        {
            "timestamp": (FIRST_SEEN + timedelta(seconds=index)).isoformat(),
            "level": "error",
            "pod": pod,
            "message": "payment gateway timeout",
        }
        for index, pod in enumerate(pods)
    ]
    spec: dict[str, Any] = {
        "rule": "error-burst",
        "incidentType": "ErrorBurst",
        "severity": "high",
        "fingerprint": "3f2a9c0d11e4b7a8",
        "service": "checkout",
        "firstSeen": FIRST_SEEN.isoformat(),
        "lastSeen": LAST_SEEN.isoformat(),
        "evidence": {"samples": samples},
    }
    if target is not None:
        spec["target"] = target.to_wire()
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid is not None:
        metadata["uid"] = uid
    if annotations:
        metadata["annotations"] = annotations
    return Incident.model_validate(
        {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "Incident",
            "metadata": metadata,
            "spec": spec,
        }
    )


def make_playbook(
    *steps: dict[str, Any],
    name: str = "restart",
    namespace: str = "shop",
    mode: str = "auto",
    guards: dict[str, Any] | None = None,
    verification: dict[str, Any] | None = None,
    on_failure: str = "escalate",
    status: dict[str, Any] | None = None,
) -> Playbook:
    spec: dict[str, Any] = {"mode": mode, "steps": list(steps), "onFailure": on_failure}
    if guards is not None:
        spec["guards"] = guards
    if verification is not None:
        spec["verification"] = verification
    document: dict[str, Any] = {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    if status is not None:
        document["status"] = status
    return Playbook.model_validate(document)


@pytest.fixture
def rig() -> Rig:
    rig = Rig()
    rig.executor.add()
    return rig


# --- auto runs -------------------------------------------------------------------------------


def test_auto_run_records_each_intent_before_its_single_side_effect(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, scale(4)))

    final = op.run()

    assert rig.executor.methods() == ["rollout_restart", "scale"]
    assert rig.executor.calls[1].detail == 4
    changing = [index for index, (_, calls) in enumerate(op.log) if calls]
    assert len(changing) == 2
    for position, index in enumerate(changing):
        assert len(op.log[index][1]) == 1, "one side effect per call"
        intent, intent_calls = op.log[index - 1]
        assert intent_calls == [], "the intent is persisted by a call that changes nothing"
        assert intent.progress is not None
        assert intent.progress.state is RunState.STARTED
        assert intent.progress.step == position
        assert intent.actions is not None
        assert intent.actions[-1].result is ActionResult.PENDING
    assert op.actions == [
        ("rolloutRestart", ActionResult.SUCCEEDED),
        ("scale", ActionResult.SUCCEEDED),
    ]
    assert op.status.phase is IncidentPhase.MITIGATED
    assert op.status.playbook == "restart"
    assert op.status.resolution == "playbook restart completed (not verified)"
    assert final.playbook_succeeded is True
    assert op.progress.state is RunState.FINISHED
    assert op.progress.outcome is RunOutcome.SUCCEEDED
    assert rig.executor.state().last_action == "uid-a/1/scale"
    assert rig.executor.state().desired_replicas == 4
    # settled: another call does nothing
    assert not op.step().changed
    assert len(rig.executor.calls) == 2


def test_auto_run_with_passing_verify_resolves(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, VERIFY))

    final = op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.actions == [
        ("rolloutRestart", ActionResult.SUCCEEDED),
        ("verify", ActionResult.SUCCEEDED),
    ]
    assert "signal recovered" in op.action("verify").message
    assert op.status.phase is IncidentPhase.RESOLVED
    assert op.status.resolution == "remediated by playbook restart; verified"
    assert final.playbook_succeeded is True
    assert rig.world.signal_calls == [(T0, T0)]


def test_phase_is_remediating_while_a_run_is_in_progress(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART))

    first = op.step()

    assert first.phase is IncidentPhase.REMEDIATING
    assert first.progress is not None
    assert first.progress.playbook == "shop/restart"
    assert Event("RemediationStarted", "playbook restart (auto) attempt 1") in first.events
    assert rig.executor.calls == []


def test_incident_without_a_matching_playbook_is_left_alone(rig: Rig) -> None:
    other = make_playbook(RESTART, namespace="payments")
    op = rig.operator(make_incident(), other)

    outcome = op.run()

    assert not outcome.changed
    assert outcome.recheck_after is None
    assert read_progress(op.incident) is None
    assert rig.executor.calls == []


# --- restart safety --------------------------------------------------------------------------


def test_crash_after_the_side_effect_does_not_repeat_the_step(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, scale(4)))
    op.step_until(state_is(RunState.STARTED, step=0))
    op.advance()  # restarts the deployment; the operator dies before persisting the outcome
    assert rig.executor.methods() == ["rollout_restart"]

    rig.restart_operator()
    op.run()

    assert rig.executor.methods() == ["rollout_restart", "scale"]
    assert op.actions == [
        ("rolloutRestart", ActionResult.SUCCEEDED),
        ("scale", ActionResult.SUCCEEDED),
    ]
    assert op.action("rolloutRestart").message == "already applied before the operator restarted"
    assert op.status.phase is IncidentPhase.MITIGATED


def test_crash_after_the_last_changing_step_does_not_repeat_it(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, scale(4)))
    op.step_until(state_is(RunState.STARTED, step=1))
    op.advance()  # scales, then the operator dies
    rig.restart_operator()

    op.run()

    assert rig.executor.methods() == ["rollout_restart", "scale"]
    assert op.actions == [
        ("rolloutRestart", ActionResult.SUCCEEDED),
        ("scale", ActionResult.SUCCEEDED),
    ]
    assert op.status.phase is IncidentPhase.MITIGATED


def test_crash_after_the_intent_executes_the_step_once(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART))
    op.step_until(state_is(RunState.STARTED, step=0))  # intent persisted, nothing done yet
    assert rig.executor.calls == []
    rig.restart_operator()

    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.actions == [("rolloutRestart", ActionResult.SUCCEEDED)]
    assert op.action("rolloutRestart").message == f"restarted {TARGET_NAME}"


def test_crash_before_the_intent_is_persisted_executes_the_step_once(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART))
    op.step_until(state_is(RunState.READY, step=0))
    op.advance()  # the intent, lost
    rig.restart_operator()

    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.actions == [("rolloutRestart", ActionResult.SUCCEEDED)]


def test_intent_whose_annotation_was_lost_keeps_one_action_record(rig: Rig) -> None:
    """The status (pending action) was written but the progress annotation was not."""
    op = rig.operator(make_incident(), make_playbook(RESTART))
    op.step_until(state_is(RunState.READY, step=0))
    op.incident = persist(op.incident, op.advance(), progress=False)
    assert op.actions == [("rolloutRestart", ActionResult.PENDING)]
    rig.restart_operator()

    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.actions == [("rolloutRestart", ActionResult.SUCCEEDED)]


def test_step_whose_annotation_was_lost_is_recorded_succeeded_once(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART))
    op.step_until(state_is(RunState.STARTED, step=0))
    # the remediator writes the status first, then dies before the progress annotation
    op.incident = persist(op.incident, op.advance(), progress=False)
    rig.restart_operator()

    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.actions == [("rolloutRestart", ActionResult.SUCCEEDED)]


# --- dry run ---------------------------------------------------------------------------------


def test_dry_run_changes_nothing_and_says_what_it_would_do(rig: Rig) -> None:
    playbook = make_playbook(
        RESTART, scale(4), delete_pods(), wait("30s"), VERIFY, NOTIFY, mode="dryRun"
    )
    op = rig.operator(make_incident(pods=("checkout-1",)), playbook)

    op.run()

    assert rig.executor.calls == []
    assert rig.world.signal_calls == []
    by_step = {action.step: action for action in op.status.actions}
    assert by_step["rolloutRestart"].message == f"would restart {TARGET_NAME}"
    assert by_step["scale"].message == f"would scale {TARGET_NAME} to 4 replicas"
    assert by_step["deletePod"].message == f"would delete pods of {TARGET_NAME}"
    assert by_step["wait"].message.startswith("would wait")
    assert by_step["verify"].message.startswith("would verify")
    for name in ("rolloutRestart", "scale", "deletePod", "wait", "verify"):
        assert by_step[name].result is ActionResult.DRY_RUN
        assert by_step[name].dry_run is True
    # notify is not a cluster change: a dry run still sends it
    assert rig.world.notified == ["notify"]
    assert by_step["notify"].result is ActionResult.SUCCEEDED
    assert by_step["notify"].message == "sent notify"
    step_audit = [entry for entry in op.audit if entry.step not in (None, "notify")]
    assert len(step_audit) == 5
    assert all(entry.dry_run and entry.result == "DryRun" for entry in step_audit)
    finish = op.audit[-1]
    assert (finish.action, finish.result, finish.dry_run) == ("finish", "DryRun", True)
    assert all(outcome.phase is None for outcome, _ in op.log)
    assert op.status.phase is IncidentPhase.OPEN
    assert op.progress.outcome is RunOutcome.DRY_RUN
    assert not op.step().changed


def test_playbooks_are_dry_run_by_default() -> None:
    playbook = Playbook.model_validate(
        {
            "kind": "Playbook",
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"steps": [RESTART]},
        }
    )
    rig = Rig()
    rig.executor.add()
    op = rig.operator(make_incident(), playbook)

    op.run()

    assert rig.executor.calls == []
    assert op.actions == [("rolloutRestart", ActionResult.DRY_RUN)]


# --- approval --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "approver"),
    [
        ({APPROVED_ANNOTATION: "true", APPROVED_BY_ANNOTATION: "alice"}, "alice"),
        ({APPROVED_ANNOTATION: "true"}, "kubectl annotate"),
    ],
)
def test_approval_mode_waits_for_the_annotation(
    rig: Rig, annotations: dict[str, str], approver: str
) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, mode="approval"))

    waiting = op.run()
    rig.clock.advance(600)
    still = op.run()

    assert waiting.recheck_after == POLL
    assert not still.changed
    assert still.recheck_after == POLL
    assert rig.executor.calls == []
    assert op.status.phase is IncidentPhase.AWAITING_APPROVAL
    assert op.progress.state is RunState.AWAITING_APPROVAL
    assert op.audit[0].action == "awaitApproval"

    op.incident.metadata.annotations.update(annotations)
    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.status.phase is IncidentPhase.MITIGATED
    (approve,) = [entry for entry in op.audit if entry.action == "approve"]
    assert approve.actor == approver
    assert approve.message == f"approved by {approver}"
    assert Event("RemediationApproved", f"approved by {approver}") in op.events


def test_approval_annotation_other_than_true_does_not_approve(rig: Rig) -> None:
    incident = make_incident(annotations={APPROVED_ANNOTATION: "later"})
    op = rig.operator(incident, make_playbook(RESTART, mode="approval"))

    op.run()

    assert rig.executor.calls == []
    assert op.status.phase is IncidentPhase.AWAITING_APPROVAL


# --- guards ----------------------------------------------------------------------------------


def assert_refused(op: Operator, step: str, guard: str, *fragments: str) -> None:
    """The run ended on a refusal by guard whose message contains fragments."""
    action = op.action(step)
    assert action.result is ActionResult.REFUSED
    assert action.guard == guard
    for fragment in fragments:
        assert fragment in action.message
    assert op.status.phase is IncidentPhase.ESCALATED
    assert op.progress.state is RunState.FINISHED
    assert op.progress.outcome is RunOutcome.REFUSED
    message = f"{step} refused by guard {guard}: {action.message}"
    assert op.status.resolution == message
    assert Event("RemediationRefused", message, warning=True) in op.events
    assert Event("RemediationRefused", message, warning=True, on_target=True) in op.events
    refusal = [entry for entry in op.audit if entry.result == "Refused" and entry.step == step]
    assert refusal[-1].guard == guard
    assert op.rig.executor.calls == []
    assert not op.step().changed, "a refusal ends the run"


def test_allowed_namespaces_refuses_a_namespace_not_listed(rig: Rig) -> None:
    playbook = make_playbook(RESTART, guards={"allowedNamespaces": ["payments", "search"]})
    op = rig.operator(make_incident(), playbook)

    op.run()

    assert_refused(
        op, "rolloutRestart", "allowedNamespaces", "namespace shop is not in payments, search"
    )


def test_protected_namespaces_are_refused_by_default(rig: Rig) -> None:
    dns = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="kube-system", name="coredns")
    rig.executor.add(dns)
    central = make_playbook(RESTART, namespace=CENTRAL)
    op = rig.operator(make_incident(namespace="kube-system", target=dns), central)

    op.run()

    assert_refused(op, "rolloutRestart", "allowedNamespaces", "namespace kube-system is protected")


def test_open_circuit_breaker_refuses(rig: Rig) -> None:
    playbook = make_playbook(RESTART, status={"circuitOpen": True, "consecutiveFailures": 3})
    op = rig.operator(make_incident(), playbook)

    op.run()

    assert_refused(
        op,
        "rolloutRestart",
        "circuitBreaker",
        "circuit breaker of playbook shop/restart is open after 3 consecutive failures",
        "logsentinel.io/reset-circuit=true",
    )


def test_unhealthy_pipeline_refuses(rig: Rig) -> None:
    rig.world.health = Health(False, "consumer lag 95s exceeds 30s")
    op = rig.operator(make_incident(), make_playbook(RESTART))

    op.run()

    assert_refused(
        op,
        "rolloutRestart",
        "pipelineHealth",
        "the log pipeline is unhealthy: consumer lag 95s exceeds 30s",
    )


def test_hourly_budget_refuses_when_spent(rig: Rig) -> None:
    rig.world.hourly = 5
    op = rig.operator(make_incident(), make_playbook(RESTART, guards={"maxActionsPerHour": 5}))

    op.run()

    assert_refused(
        op, "rolloutRestart", "maxActionsPerHour", "5 actions in the last hour; the limit is 5"
    )


def test_hourly_budget_allows_the_last_action(rig: Rig) -> None:
    rig.world.hourly = 4
    op = rig.operator(make_incident(), make_playbook(RESTART, guards={"maxActionsPerHour": 5}))

    op.run()

    assert rig.executor.methods() == ["rollout_restart"]


def test_cooldown_refuses_after_another_incidents_action(rig: Rig) -> None:
    rig.executor.set(
        last_action="uid-other/1/rolloutRestart", last_action_at=T0 - timedelta(minutes=3)
    )
    op = rig.operator(make_incident(), make_playbook(RESTART))

    op.run()

    assert_refused(
        op,
        "rolloutRestart",
        "cooldownPerTarget",
        f"{TARGET_NAME} was changed 3 min ago by uid-other; the cooldown is 10 min (7 min left)",
    )


def test_cooldown_passed_lets_the_step_run(rig: Rig) -> None:
    rig.executor.set(
        last_action="uid-other/1/rolloutRestart", last_action_at=T0 - timedelta(minutes=11)
    )
    op = rig.operator(make_incident(), make_playbook(RESTART))

    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.status.phase is IncidentPhase.MITIGATED


def test_cooldown_ignores_the_same_runs_earlier_step(rig: Rig) -> None:
    playbook = make_playbook(RESTART, scale(4), delete_pods())
    op = rig.operator(make_incident(pods=("checkout-1",)), playbook)

    op.run()

    assert rig.executor.methods() == ["rollout_restart", "scale", "delete_pods"]
    assert [call.marker for call in rig.executor.calls] == [
        "uid-a/1/rolloutRestart",
        "uid-a/1/scale",
        "uid-a/1/deletePod",
    ]
    assert op.status.phase is IncidentPhase.MITIGATED


def test_min_healthy_replicas_refuses_when_too_few_are_available(rig: Rig) -> None:
    rig.executor.set(available_replicas=0)
    op = rig.operator(make_incident(), make_playbook(RESTART))

    op.run()

    assert_refused(
        op,
        "rolloutRestart",
        "minHealthyReplicas",
        f"{TARGET_NAME} has 0 available replica(s); the playbook requires at least 1 before acting",
    )


def test_min_healthy_replicas_refuses_a_pod_deletion_that_leaves_too_few(rig: Rig) -> None:
    rig.executor.set(available_replicas=2)
    playbook = make_playbook(delete_pods(), guards={"minHealthyReplicas": 2})
    op = rig.operator(make_incident(pods=("checkout-1",)), playbook)

    op.run()

    assert_refused(
        op,
        "deletePod",
        "minHealthyReplicas",
        f"deletePod would leave {TARGET_NAME} with 1 available replica(s); "
        "the playbook requires at least 2",
    )


def test_min_healthy_replicas_refuses_scaling_down_below(rig: Rig) -> None:
    playbook = make_playbook(scale(1), guards={"minHealthyReplicas": 2})
    op = rig.operator(make_incident(), playbook)

    op.run()

    assert_refused(
        op,
        "scale",
        "minHealthyReplicas",
        f"scale would leave {TARGET_NAME} with 1 available replica(s); "
        "the playbook requires at least 2",
    )


def test_delete_pod_deletes_the_newest_evidence_pods(rig: Rig) -> None:
    incident = make_incident(pods=("checkout-old", "checkout-mid", "checkout-mid", "checkout-new"))
    op = rig.operator(incident, make_playbook(delete_pods(max_pods=2)))

    op.run()

    assert rig.executor.methods() == ["delete_pods"]
    assert rig.executor.calls[0].detail == ["checkout-new", "checkout-mid"]
    assert op.action("deletePod").message == "deleted checkout-new, checkout-mid"


def test_incident_without_a_target_is_refused_by_the_target_guard(rig: Rig) -> None:
    op = rig.operator(make_incident(target=None), make_playbook(RESTART))

    op.run()

    assert_refused(op, "rolloutRestart", "target", "the incident has no target workload")


def test_target_that_no_longer_exists_fails_the_step(rig: Rig) -> None:
    rig.executor.targets.clear()
    op = rig.operator(make_incident(), make_playbook(RESTART))

    final = op.run()

    assert rig.executor.calls == []
    assert op.action("rolloutRestart").result is ActionResult.FAILED
    assert op.action("rolloutRestart").message == f"{TARGET_NAME} not found"
    assert op.status.phase is IncidentPhase.ESCALATED
    assert final.playbook_succeeded is False


def test_executor_error_fails_the_step_and_escalates(rig: Rig) -> None:
    rig.executor.error = ExecutorError("cannot restart: it is paused (resume the rollout first)")
    op = rig.operator(make_incident(), make_playbook(RESTART, scale(4)))

    final = op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert op.actions == [("rolloutRestart", ActionResult.FAILED)]
    assert "it is paused" in op.action("rolloutRestart").message
    assert op.status.phase is IncidentPhase.ESCALATED
    assert op.progress.outcome is RunOutcome.FAILED
    assert final.playbook_succeeded is False


def test_recurrence_within_max_attempts_starts_another_attempt(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART))
    op.run()
    assert op.status.phase is IncidentPhase.MITIGATED

    rig.clock.advance(3600)
    op.run()  # no new lastSeen: nothing to do
    assert rig.executor.methods() == ["rollout_restart"]

    op.incident.spec.last_seen = rig.clock.now - timedelta(seconds=5)
    op.run()

    assert [call.marker for call in rig.executor.calls] == [
        "uid-a/1/rolloutRestart",
        "uid-a/2/rolloutRestart",
    ]
    assert op.progress.attempt == 2
    assert op.status.phase is IncidentPhase.MITIGATED


def test_recurrence_after_the_last_attempt_is_refused(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, guards={"maxAttemptsPerIncident": 1}))
    op.run()
    rig.clock.advance(3600)
    op.incident.spec.last_seen = rig.clock.now - timedelta(seconds=5)
    rig.executor.calls.clear()  # the first attempt's restart; assert_refused wants none after it

    op.run()

    assert op.progress.attempt == 2
    assert_refused(
        op,
        "rolloutRestart",
        "maxAttemptsPerIncident",
        "1 attempt(s) already made; the limit is 1",
    )
    assert op.actions == [
        ("rolloutRestart", ActionResult.SUCCEEDED),
        ("rolloutRestart", ActionResult.REFUSED),
    ]


def test_recurrence_within_the_cooldown_is_refused_naming_the_earlier_attempt(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART))
    op.run()
    rig.clock.advance(120)
    op.incident.spec.last_seen = rig.clock.now - timedelta(seconds=5)
    rig.executor.calls.clear()

    op.run()

    assert_refused(
        op, "rolloutRestart", "cooldownPerTarget", "changed 2 min ago by uid-a", "(8 min left)"
    )


# --- verification ----------------------------------------------------------------------------


def test_verify_waits_for_the_rollout_then_for_the_signal(rig: Rig) -> None:
    rig.executor.set(updated_replicas=1)  # the restart is rolling out
    rig.world.verdict = Verdict(None, "waiting for a full 1 min of data after the fix")
    op = rig.operator(make_incident(), make_playbook(RESTART, VERIFY))

    outcome = op.run_for(30)

    assert outcome.recheck_after == POLL
    assert rig.world.signal_calls == [], "the signal is judged only after the rollout"
    assert op.action("verify").result is ActionResult.PENDING
    assert op.status.phase is IncidentPhase.REMEDIATING

    rig.executor.set(updated_replicas=3)
    rollout_done = rig.clock.now
    op.run_for(30)

    assert op.progress.rollout_done_at == rollout_done
    assert rig.world.signal_calls, "judged once the rollout completed"
    assert all(since == rollout_done for since, _ in rig.world.signal_calls)
    assert op.action("verify").result is ActionResult.PENDING, "too early is not a verdict"

    rig.world.verdict = Verdict(True, "2 errors per 1 min (fired at 50)")
    final = op.run_for(10)

    assert op.action("verify").result is ActionResult.SUCCEEDED
    assert op.status.phase is IncidentPhase.RESOLVED
    assert final.playbook_succeeded is True
    assert rig.executor.methods() == ["rollout_restart"]


def test_verify_fails_when_the_signal_stays_high_and_escalates(rig: Rig) -> None:
    rig.world.verdict = Verdict(False, "62 matching records per 1 min (fired at 50)")
    op = rig.operator(
        make_incident(), make_playbook(RESTART, VERIFY, verification={"window": "1m"})
    )

    op.run_for(60)
    assert op.action("verify").result is ActionResult.PENDING, "not before within has passed"

    final = op.run_for(10)

    verify = op.action("verify")
    assert verify.result is ActionResult.FAILED
    assert "signal still high: 62 matching records per 1 min" in verify.message
    assert op.status.phase is IncidentPhase.ESCALATED
    assert op.progress.outcome is RunOutcome.FAILED
    assert final.playbook_succeeded is False
    assert rig.executor.methods() == ["rollout_restart"], "escalate does not roll back"


def test_verify_step_within_overrides_the_playbook_window(rig: Rig) -> None:
    rig.world.verdict = Verdict(False, "still high")
    step = {"type": "verify", "verify": {"within": "20s"}}
    op = rig.operator(make_incident(), make_playbook(RESTART, step))

    op.run_for(30)

    assert op.action("verify").result is ActionResult.FAILED
    assert op.action("verify").finished_at == T0 + timedelta(seconds=22)  # first poll after 20 s


def test_verify_failure_with_on_failure_rollback_rolls_back_then_escalates(rig: Rig) -> None:
    rig.world.verdict = Verdict(False, "62 matching records per 1 min (fired at 50)")
    playbook = make_playbook(RESTART, VERIFY, verification={"window": "1m"}, on_failure="rollback")
    op = rig.operator(make_incident(), playbook)

    final = op.run_for(120)

    assert rig.executor.methods() == ["rollout_restart", "rollback"]
    assert rig.executor.calls[1].marker == "uid-a/1/on-failure-rollback"
    assert op.actions == [
        ("rolloutRestart", ActionResult.SUCCEEDED),
        ("verify", ActionResult.FAILED),
        ("on-failure-rollback", ActionResult.SUCCEEDED),
    ]
    assert op.action("on-failure-rollback").type is StepType.ROLLBACK
    assert Event("RemediationRolledBack", f"rolled back {TARGET_NAME}", on_target=True) in (
        op.events
    )
    assert op.status.phase is IncidentPhase.ESCALATED
    assert final.playbook_succeeded is False


def test_on_failure_rollback_is_not_repeated_after_a_crash(rig: Rig) -> None:
    rig.world.verdict = Verdict(False, "still high")
    playbook = make_playbook(RESTART, VERIFY, verification={"window": "1m"}, on_failure="rollback")
    op = rig.operator(make_incident(), playbook)
    op.run_for(60)
    rig.clock.advance(5)
    op.advance()  # verification fails and rolls back; the operator dies before persisting
    assert rig.executor.methods() == ["rollout_restart", "rollback"]
    rig.restart_operator()

    op.run()

    assert rig.executor.methods() == ["rollout_restart", "rollback"]
    assert op.status.phase is IncidentPhase.ESCALATED


def test_verify_fails_when_the_rollout_does_not_complete(rig: Rig) -> None:
    rig.executor.set(updated_replicas=1)
    playbook = make_playbook(
        RESTART, VERIFY, verification={"rolloutTimeout": "2m", "window": "10m"}
    )
    op = rig.operator(make_incident(), playbook)

    op.run_for(120)
    assert op.action("verify").result is ActionResult.PENDING

    final = op.run_for(10)

    verify = op.action("verify")
    assert verify.result is ActionResult.FAILED
    assert f"the rollout of {TARGET_NAME} did not complete" in verify.message
    assert "(1/3 updated, 3 available)" in verify.message
    assert rig.world.signal_calls == []
    assert op.status.phase is IncidentPhase.ESCALATED
    assert final.playbook_succeeded is False


def test_verify_does_not_judge_while_the_pipeline_is_unhealthy(rig: Rig) -> None:
    playbook = make_playbook(RESTART, VERIFY, verification={"window": "1m"})
    op = rig.operator(make_incident(), playbook)
    op.step_until(state_is(RunState.WAITING, step=1))
    rig.world.health = Health(False, "consumer lag 95s exceeds 30s")

    outcome = op.run_for(60)

    assert rig.world.signal_calls == [], "missing data looks like recovery: never judged"
    assert outcome.recheck_after == POLL
    assert op.action("verify").result is ActionResult.PENDING

    op.run_for(10)

    verify = op.action("verify")
    assert verify.result is ActionResult.FAILED
    assert "could not tell: the log pipeline is unhealthy: consumer lag 95s exceeds 30s" in (
        verify.message
    )
    assert op.status.phase is IncidentPhase.ESCALATED


def test_verify_without_signal_recovery_needs_only_the_rollout(rig: Rig) -> None:
    rig.world.verdict = Verdict(False, "would fail if asked")
    playbook = make_playbook(RESTART, VERIFY, verification={"requireSignalRecovery": False})
    op = rig.operator(make_incident(), playbook)

    op.run()

    assert rig.world.signal_calls == []
    assert op.action("verify").message == "rollout complete"
    assert op.status.phase is IncidentPhase.RESOLVED


# --- waits -----------------------------------------------------------------------------------


def test_wait_step_honours_its_duration(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(wait("90s"), RESTART))

    first = op.run()
    assert first.recheck_after == 30.0, "long waits are rechecked every 30 s at most"
    assert rig.executor.calls == []

    rig.clock.advance(89)
    almost = op.run()
    assert almost.recheck_after == pytest.approx(1.0)
    assert rig.executor.calls == []
    assert op.action("wait").result is ActionResult.PENDING

    rig.clock.advance(1)
    op.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert rig.executor.calls[0].at == T0 + timedelta(seconds=90)
    assert op.action("wait").result is ActionResult.SUCCEEDED
    assert op.action("wait").message.startswith("waited")


# --- one action at a time per target ---------------------------------------------------------


def test_second_incident_on_the_same_target_waits_for_the_first(rig: Rig) -> None:
    playbook = make_playbook(RESTART, wait("60s"), guards={"cooldownPerTarget": "1s"})
    first = rig.operator(make_incident("inc-a", uid="uid-a"), playbook)
    second = rig.operator(make_incident("inc-b", uid="uid-b"), playbook)

    first.run()
    blocked = second.run()

    assert rig.executor.methods() == ["rollout_restart"]
    assert blocked.recheck_after == POLL
    assert not blocked.changed
    assert second.progress.waiting_for == (
        f"{TARGET_NAME} is being remediated for incident shop/inc-a"
    )
    assert second.status.actions == [], "no intent is recorded while waiting"

    rig.clock.advance(30)
    assert second.run().recheck_after == POLL
    assert len(rig.executor.calls) == 1

    rig.clock.advance(30)
    first.run()
    assert first.status.phase is IncidentPhase.MITIGATED
    second.run()

    assert [call.marker for call in rig.executor.calls] == [
        "uid-a/1/rolloutRestart",
        "uid-b/1/rolloutRestart",
    ]
    assert second.action("rolloutRestart").result is ActionResult.SUCCEEDED


# --- playbook and notify failures ------------------------------------------------------------


def test_playbook_deleted_mid_run_escalates_naming_it(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, wait("60s"), scale(4)))
    op.run()
    assert op.progress.state is RunState.WAITING

    op.playbooks = []
    rig.clock.advance(60)
    op.run()

    assert op.status.phase is IncidentPhase.ESCALATED
    assert op.status.resolution == "playbook shop/restart no longer exists"
    assert op.progress.outcome is RunOutcome.FAILED
    assert Event("RemediationFailed", "playbook shop/restart no longer exists", warning=True) in (
        op.events
    )
    assert rig.executor.methods() == ["rollout_restart"]


def test_playbook_deleted_mid_run_frees_the_target(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RESTART, wait("60s")))
    op.run()
    op.playbooks = []
    op.run()
    other = make_playbook(RESTART, name="other", guards={"cooldownPerTarget": "1s"})
    rig.clock.advance(5)
    second = rig.operator(make_incident("inc-b", uid="uid-b"), other)

    second.run()

    assert rig.executor.calls[-1].marker == "uid-b/1/rolloutRestart"


def test_notify_sends_and_records_what_was_done(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(NOTIFY))

    op.run()

    assert rig.world.notified == ["notify"]
    assert op.action("notify").result is ActionResult.SUCCEEDED
    assert op.action("notify").message == "sent notify"
    assert rig.executor.calls == []


def test_notify_failure_fails_the_step_with_the_error(rig: Rig) -> None:
    rig.world.notify_error = RuntimeError("webhook answered 500 after 3 retries")
    playbook = make_playbook(NOTIFY, RESTART, on_failure="rollback")
    op = rig.operator(make_incident(), playbook)

    final = op.run()

    notify = op.action("notify")
    assert notify.result is ActionResult.FAILED
    assert notify.message == "notify failed: webhook answered 500 after 3 retries"
    assert op.actions == [("notify", ActionResult.FAILED)], "the run stops at the failure"
    assert rig.executor.calls == [], "a failed notification changed nothing to roll back"
    assert op.status.phase is IncidentPhase.ESCALATED
    assert final.playbook_succeeded is False
