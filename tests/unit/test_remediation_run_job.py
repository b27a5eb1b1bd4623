"""The runJob step: the engine creates one Job per incident, attempt and step, waits for it with
the step's timeout, and records its result with the last lines of its log; the Job's manifest
runs once, is stopped by Kubernetes at the timeout and carries the incident's variables."""

from __future__ import annotations

from typing import Any

from test_remediation_engine import TARGET, Rig, make_incident, make_playbook, rig, state_is

from logsentinel.domain.incident import ActionResult, IncidentPhase
from logsentinel.domain.playbook import Step
from logsentinel.domain.remediation import RunState
from logsentinel.remediation.engine import JOB_GRACE, MAX_ACTION_MESSAGE
from logsentinel.remediation.executor import JobPhase, JobRequest, JobState
from logsentinel.remediation.kubernetes import job_manifest, job_phase
from logsentinel.remediation.steps import MAX_JOB_NAME, job_name, job_request

__all__ = ["rig"]  # the fixture, shared with the engine's tests

RUN_JOB: dict[str, Any] = {
    "type": "runJob",
    "runJob": {
        "image": "registry.example.com/tools:1",
        "command": ["sh", "-c"],
        "args": ["flush-cache --service $LOGSENTINEL_WORKLOAD_NAME"],
        "env": [{"name": "MODE", "value": "safe"}],
        "timeout": "2m",
    },
}


def only_job(rig: Rig) -> JobRequest:
    (job,) = rig.executor.job_requests.values()
    return job


def test_the_job_is_created_once_then_waited_for_and_its_log_recorded(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RUN_JOB, name="flush"))
    op.run()
    assert rig.executor.methods() == ["run_job"]
    assert state_is(RunState.WAITING, 0)(op)
    job = only_job(rig)
    assert job.env["LOGSENTINEL_WORKLOAD_NAME"] == "checkout"
    assert job.env["LOGSENTINEL_INCIDENT"] == "inc-a"
    assert op.action("runJob").result is ActionResult.PENDING
    assert job.name in op.action("runJob").message

    op.run_for(30)  # still running: polled, nothing created again
    assert rig.executor.methods() == ["run_job"]
    rig.executor.jobs[job.name] = JobState(
        JobPhase.SUCCEEDED, "Complete", log_tail="flushing\ncache flushed: 42 keys\n"
    )
    op.run_for(10)
    record = op.action("runJob")
    assert record.result is ActionResult.SUCCEEDED
    assert record.message.endswith("last log lines:\nflushing\ncache flushed: 42 keys")
    assert op.status.phase is IncidentPhase.MITIGATED


def test_an_operator_restart_after_the_job_was_created_does_not_create_another(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RUN_JOB, name="flush"))
    op.step_until(state_is(RunState.STARTED, 0))
    op.advance()  # the Job is created, then the operator dies before persisting that
    rig.restart_operator()
    op.run()
    assert rig.executor.methods() == ["run_job"], "the marker on the target says it exists"
    assert state_is(RunState.WAITING, 0)(op)
    assert "before the operator restarted" in op.action("runJob").message


def test_a_failed_job_fails_the_step_with_its_reason_and_log(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RUN_JOB, name="flush", on_failure="rollback"))
    op.run()
    rig.executor.jobs[only_job(rig).name] = JobState(
        JobPhase.FAILED, "BackoffLimitExceeded: Job has reached the specified backoff limit",
        log_tail="x" * 5000,
    )  # fmt: skip
    op.run_for(10)
    record = op.action("runJob")
    assert record.result is ActionResult.FAILED
    assert "BackoffLimitExceeded" in record.message
    assert len(record.message) <= MAX_ACTION_MESSAGE
    assert record.message.endswith("xxx")
    assert op.status.phase is IncidentPhase.ESCALATED
    # onFailure: rollback undoes changes to the workload; a Job made none.
    assert "rollback" not in rig.executor.methods()


def test_a_job_that_outlives_its_timeout_fails_the_step(rig: Rig) -> None:
    op = rig.operator(make_incident(), make_playbook(RUN_JOB, name="flush"))
    op.run_for(120 + JOB_GRACE.total_seconds() + 10)
    record = op.action("runJob")
    assert record.result is ActionResult.FAILED
    assert "did not finish within 2m" in record.message


def test_guards_and_dry_runs_apply_to_jobs(rig: Rig) -> None:
    refused = rig.operator(
        make_incident(),
        make_playbook(RUN_JOB, name="flush", guards={"allowedNamespaces": ["payments"]}),
    )
    refused.run()
    assert refused.action("runJob").result is ActionResult.REFUSED
    dry = rig.operator(make_incident("inc-b", uid="uid-b"), make_playbook(RUN_JOB, mode="dryRun"))
    dry.run()
    assert rig.executor.methods() == []
    assert "would run a Job (registry.example.com/tools:1: sh -c flush-cache" in (
        dry.action("runJob").message
    )


def test_job_names_are_stable_short_and_distinct_per_attempt() -> None:
    long_incident = "error-burst-" + "x" * 80
    first = job_name(long_incident, "uid/1/runJob")
    assert first == job_name(long_incident, "uid/1/runJob")
    assert first != job_name(long_incident, "uid/2/runJob")
    assert len(first) <= MAX_JOB_NAME


def test_the_job_runs_once_stops_at_its_timeout_and_carries_the_incident() -> None:
    step = Step.model_validate(RUN_JOB)
    request = job_request(step, make_incident(), "uid-a/1/runJob")
    job = job_manifest(TARGET, request, "uid-a/1/runJob")
    assert job["metadata"]["namespace"] == "shop"
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 120)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["command"] == ["sh", "-c"]
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    assert env["LOGSENTINEL_RULE"] == "error-burst"
    assert env["LOGSENTINEL_WORKLOAD_KIND"] == "Deployment"
    assert env["MODE"] == "safe"
    assert spec["template"]["metadata"]["labels"]["logsentinel.io/incident"] == "inc-a"


def test_the_jobs_phase_comes_from_its_conditions() -> None:
    running = {"status": {"active": 1}}
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {
        "status": {
            "conditions": [
                {"type": "FailureTarget", "status": "True"},
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                 "message": "Job was active longer than specified deadline"},
            ]
        }
    }  # fmt: skip
    assert job_phase(running) == (JobPhase.RUNNING, "")
    assert job_phase(done)[0] is JobPhase.SUCCEEDED
    assert job_phase(failed) == (
        JobPhase.FAILED,
        "DeadlineExceeded: Job was active longer than specified deadline",
    )
