"""The whole chain in Compose mode, on a real engine (Podman's Docker API here, started by
devstack as `make compose-up` does): the sample service runs its good image, then a release
gives it the failing one; its error lines go through the collector, Kafka and the processors,
which open an incident whose target is the Compose service; the remediator rolls the service
back to the image it ran before, verifies that the errors stopped, and the incident ends
Resolved. Rules and playbooks come from directories mounted as docker-compose.yml mounts the
user's."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
import yaml

from devstack import compose, images
from devstack.proc import free_port
from support.compose_project import database_url, project_up
from support.running import eventually

pytestmark = pytest.mark.compose

OVERRIDE = Path(__file__).with_name("sample-service.yml")
SERVICE = "payment"

RULE = {
    "apiVersion": "logsentinel.io/v1alpha1",
    "kind": "DetectionRule",
    "metadata": {"name": "payment-errors", "namespace": "{project}"},
    "spec": {
        "selector": {"services": [SERVICE]},
        "match": {"levels": ["error"]},
        "detector": {"type": "threshold", "threshold": {"count": 10, "window": "10s"}},
        "severity": "high",
        "incidentType": "ErrorBurst",
        "autoResolveAfter": "10m",
    },
}
PLAYBOOK = {
    "apiVersion": "logsentinel.io/v1alpha1",
    "kind": "Playbook",
    "metadata": {"name": "roll-back-bad-release", "namespace": "{project}"},
    "spec": {
        "triggers": {"rules": ["payment-errors"]},
        "mode": "auto",
        "steps": [{"type": "rollback"}, {"type": "verify"}],
        "verification": {"window": "60s", "rolloutTimeout": "90s"},
    },
}


@dataclass
class Chain:
    target: compose.Target
    database_url: str
    client: docker.DockerClient
    good: str
    bad: str

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as connection:
            return connection.execute(sql, parameters).fetchall()

    def release(self, image: str) -> None:
        """Give the service another image and `compose up` it, as a user's release does.

        Only the service is recreated, as Docker recreates only what changed: through Podman
        4.3's API, Compose would recreate every container of the project, Kafka and the
        processor too, and the pipeline-health guard would then rightly refuse to act for the
        minute the processor needs to get its partitions back."""
        os.environ["LOGSENTINEL_SAMPLE_IMAGE"] = image  # the fixture's monkeypatch restores it
        self.target = replace(
            self.target, env={**self.target.env, "LOGSENTINEL_SAMPLE_IMAGE": image}
        )
        self.target.run("up", "--detach", "--wait", "--no-deps", SERVICE)

    def diagnosis(self) -> str:
        """What the incidents and the remediator say, for a failure message."""
        rows = self.query("SELECT name, phase, remediation_status FROM incidents")
        logs = self.target.run("logs", "--no-color", "--tail", "30", "remediator").stdout
        return f"incidents: {rows}\nremediator's last lines:\n{logs}"

    def eventually(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        try:
            eventually(what, check, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.diagnosis()}") from None

    def service_images(self) -> list[str]:
        found = self.client.containers.list(
            filters={"label": [f"com.docker.compose.project={self.target.project}",
                               f"com.docker.compose.service={SERVICE}"]}
        )  # fmt: skip
        return sorted(str(c.attrs["Config"]["Image"]) for c in found)


def manifest(document: dict[str, Any], project: str) -> str:
    filled = {**document, "metadata": {**document["metadata"], "namespace": project}}
    return yaml.safe_dump(filled)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    project = f"lschain-{uuid.uuid4().hex[:8]}"
    rules, playbooks = tmp_path_factory.mktemp("rules"), tmp_path_factory.mktemp("playbooks")
    (rules / "rule.yaml").write_text(manifest(RULE, project))
    (playbooks / "playbook.yaml").write_text(manifest(PLAYBOOK, project))
    for directory in (rules, playbooks):  # the product's services read them as UID 10001
        directory.chmod(0o755)
        for file in directory.iterdir():
            file.chmod(0o644)
    good, bad = images.build_sample_app(images.build_base())[:2]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOGSENTINEL_API_PORT", str(free_port()))
        env.setenv("LOGSENTINEL_SAMPLE_IMAGE", good)
        env.setenv("LOGSENTINEL_RULES_DIR", str(rules))
        env.setenv("LOGSENTINEL_PLAYBOOKS_DIR", str(playbooks))
        try:
            chosen = project_up(project, [OVERRIDE])
            client = docker.DockerClient(base_url=chosen.env["DOCKER_HOST"])
            yield Chain(chosen, database_url(chosen, chosen.config()), client, good, bad)
            client.close()
        finally:
            compose.down(project, [OVERRIDE], purge=True)


def test_a_bad_release_is_detected_rolled_back_verified_and_resolved(chain: Chain) -> None:
    project = chain.target.project
    eventually(
        "the remediator saw the good image",
        lambda: chain.query(
            "SELECT 1 FROM compose_images WHERE project = %s AND service = %s AND reference = %s",
            project, SERVICE, chain.good,
        ),
        60,
    )  # fmt: skip
    chain.release(chain.bad)
    assert chain.service_images() == [chain.bad]
    opened: list[tuple[Any, ...]] = []

    def incident_opened() -> bool:
        opened[:] = chain.query(
            "SELECT name, target FROM incidents WHERE namespace = %s AND service = %s",
            project, SERVICE,
        )  # fmt: skip
        return bool(opened)

    chain.eventually("the processors open an incident", incident_opened, 120)
    name, target = opened[0]
    assert target == {"kind": "ComposeService", "namespace": project, "name": SERVICE}
    chain.eventually("the service runs the good image again", lambda: chain.service_images() == [chain.good], 120)  # fmt: skip
    final: list[tuple[Any, ...]] = []

    def resolved() -> bool:
        final[:] = chain.query(
            "SELECT phase, remediation_status FROM incidents WHERE name = %s", name
        )
        return bool(final) and final[0][0] in ("Resolved", "Escalated")

    chain.eventually("the incident ends", resolved, 180)
    phase, status = final[0]
    assert phase == "Resolved", status
    assert [(a["type"], a["result"]) for a in status["actions"]] == [
        ("rollback", "Succeeded"),
        ("verify", "Succeeded"),
    ]
    assert f"to {chain.good}" in status["actions"][0]["message"]
    audit = chain.query(
        "SELECT action, result FROM audit_log WHERE incident = %s ORDER BY id", f"{project}/{name}"
    )
    assert ("rollback", "Succeeded") in audit
