"""The Docker executor on a real engine (here Podman's Docker API started by devstack, as
`make compose-up` uses it), with its memory in PostgreSQL: containers labelled as a Compose
service are restarted, rolled back to the image they ran before (same name, the old container
back when the new one does not run), scaled, and runJob steps run as one-off containers whose
result and log tail are read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from logsentinel.domain.playbook import RunJobParams
from logsentinel.remediation.docker import (
    NUMBER_LABEL,
    SERVICE_LABEL,
    DockerExecutor,
)
from logsentinel.remediation.executor import ExecutorError, JobPhase, JobRequest
from support.compose_engine import SERVICE, Engine
from support.running import eventually

pytestmark = pytest.mark.compose


def test_state_and_restart_of_a_service(engine: Engine, executor: DockerExecutor) -> None:
    first = engine.start(engine.good, 1)
    engine.start(engine.good, 2)
    state = executor.target_state(engine.target)
    assert (state.desired_replicas, state.ready_replicas) == (2, 2)
    assert set(state.images.values()) == {engine.good}
    started = first.attrs["State"]["StartedAt"]
    at = datetime.now(UTC)
    done = executor.rollout_restart(engine.target, "inc-1/restart/1", at)
    assert "restarted 2 container(s)" in done
    first.reload()
    assert first.attrs["State"]["StartedAt"] != started, "the container was restarted"
    state = executor.target_state(engine.target)
    assert state.last_action == "inc-1/restart/1"
    assert state.last_action_at is not None
    assert abs((state.last_action_at - at).total_seconds()) < 1
    assert state.ready_replicas == 2


def test_rollback_returns_to_the_image_seen_before(
    engine: Engine, executor: DockerExecutor
) -> None:
    engine.start(engine.good)
    executor.target_state(engine.target)  # the remediator sees every service: good runs
    executor.rollback(engine.target, "deploy", datetime.now(UTC), image=engine.bad)  # a release
    assert engine.images_running() == [engine.bad]
    done = executor.rollback(engine.target, "inc-2/rollback/1", datetime.now(UTC))
    assert engine.images_running() == [engine.good]
    assert f"to {engine.good}" in done
    (container,) = executor.replicas(engine.target)
    assert container.name == f"{engine.project}-{SERVICE}-1", "the replica keeps its name"
    assert container.labels[SERVICE_LABEL] == SERVICE
    again = executor.rollback(engine.target, "inc-2/rollback/1", datetime.now(UTC), engine.good)
    assert "0 container(s) replaced" in again, "a repeated rollback changes nothing"


def test_a_replacement_that_does_not_run_leaves_the_old_container(
    engine: Engine, executor: DockerExecutor
) -> None:
    engine.start(engine.good)
    broken = f"localhost/logsentinel-broken:{uuid.uuid4().hex[:6]}"
    # an image whose process exits at once: the sample app without its script
    stripped = engine.client.containers.run(
        engine.good, entrypoint=["rm", "-f", "/opt/sample-app/app.py"], user="root", detach=True
    )
    stripped.wait(timeout=60)
    repository, tag = broken.rsplit(":", 1)
    stripped.commit(repository=repository, tag=tag)
    stripped.remove(force=True)
    try:
        with pytest.raises(ExecutorError, match="stopped"):
            executor.rollback(engine.target, "inc-3/rollback/1", datetime.now(UTC), broken)
        assert engine.images_running() == [engine.good], "the old container runs again"
        (kept,) = executor.replicas(engine.target)
        assert kept.name == f"{engine.project}-{SERVICE}-1"
    finally:
        engine.client.images.remove(broken, force=True)


def test_scale_up_and_down(engine: Engine, executor: DockerExecutor) -> None:
    engine.start(engine.good)
    done = executor.scale(engine.target, 3, "inc-4/scale/1", datetime.now(UTC))
    assert "from 1 to 3" in done
    assert executor.target_state(engine.target).ready_replicas == 3
    numbers = sorted(int(c.labels[NUMBER_LABEL]) for c in executor.replicas(engine.target))
    assert numbers == [1, 2, 3]
    executor.scale(engine.target, 1, "inc-4/scale/2", datetime.now(UTC))
    assert [c.name for c in executor.replicas(engine.target)] == [f"{engine.project}-{SERVICE}-1"]


def test_run_job_as_a_one_off_container(engine: Engine, executor: DockerExecutor) -> None:
    engine.start(engine.good)

    def job(name: str, script: str) -> JobRequest:
        params = RunJobParams.model_validate(
            {"image": engine.good, "command": ["sh", "-c"], "args": [script],
             "timeout": timedelta(minutes=1)}
        )  # fmt: skip
        return JobRequest(name, "inc-5", params, {"LOGSENTINEL_INCIDENT": "inc-5"})

    ok = job(f"{engine.project}-flush", 'echo "flushed for $LOGSENTINEL_INCIDENT"')
    assert "started job container" in executor.run_job(engine.target, ok, "m", datetime.now(UTC))
    assert "found job container" in executor.run_job(engine.target, ok, "m", datetime.now(UTC))
    eventually(
        "the job finishes",
        lambda: executor.job_state(engine.project, ok.name).phase is not JobPhase.RUNNING,
        60,
    )
    state = executor.job_state(engine.project, ok.name)
    assert state.phase is JobPhase.SUCCEEDED
    assert "flushed for inc-5" in state.log_tail
    bad = job(f"{engine.project}-fail", "echo cannot reach the cache; exit 3")
    executor.run_job(engine.target, bad, "m2", datetime.now(UTC))
    eventually(
        "the failing job finishes",
        lambda: executor.job_state(engine.project, bad.name).phase is not JobPhase.RUNNING,
        60,
    )
    failed = executor.job_state(engine.project, bad.name)
    assert (failed.phase, failed.message) == (JobPhase.FAILED, "exit code 3")
    assert "cannot reach the cache" in failed.log_tail
    assert executor.target_state(engine.target).desired_replicas == 1, "jobs are no replicas"
