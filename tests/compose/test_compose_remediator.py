"""The Compose remediator (`logsentinel remediator`: the operator's engine on PostgreSQL and the
Docker Engine API) on a real engine: a service goes bad after an image change, an incident is
stored as the processors store it (its target the Compose service), and the remediator rolls the
service back to the image it ran before; in approval mode it waits until someone approves
through the API, which writes the approval on the incident's row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from logsentinel.domain.incident import IncidentSpec
from logsentinel.operator.compose import ComposeLoop, build
from logsentinel.operator.settings import ComposeSettings
from logsentinel.storage import incidents
from logsentinel.storage.urls import libpq_url
from support.api import logged_in_api
from support.compose_engine import SERVICE, Engine
from support.operator import HealthyPipeline
from support.running import eventually

pytestmark = pytest.mark.compose

INCIDENT = "payment-errors-1"


def write_playbook(directory: Path, namespace: str, mode: str) -> None:
    playbook = {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": "roll-back-payment", "namespace": namespace},
        "spec": {
            "triggers": {"incidentTypes": ["ErrorBurst"]},
            "mode": mode,
            "steps": [{"type": "rollback"}],
        },
    }
    (directory / "playbook.yaml").write_text(yaml.safe_dump(playbook))


def open_incident(database_url: str, project: str) -> None:
    """An incident of the service, as a processor with LOGSENTINEL_COMPOSE_TARGETS opens it."""
    now = datetime.now(UTC).isoformat()
    spec = IncidentSpec.model_validate(
        {
            "rule": "payment-errors",
            "incidentType": "ErrorBurst",
            "severity": "high",
            "fingerprint": "c0ffee" * 5 + "00",
            "service": SERVICE,
            "target": {"kind": "ComposeService", "namespace": project, "name": SERVICE},
            "firstSeen": now,
            "lastSeen": now,
        }
    )
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        incidents.open_incident(
            connection,
            name=INCIDENT,
            namespace=project,
            rule=f"{project}/payment-errors",
            group_key={"service": SERVICE},
            spec=spec,
            source=None,
        )


def stored(database_url: str) -> dict[str, Any]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT phase, remediation_status, annotations FROM incidents WHERE name = %s",
            (INCIDENT,),
        ).fetchone()
    assert row is not None
    return {"phase": row[0], "status": row[1] or {}, "annotations": row[2]}


@pytest.fixture
def loop(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[ComposeLoop]:
    """The remediator as `logsentinel remediator` builds it, on the test's engine and database,
    with a caught-up pipeline."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    settings = ComposeSettings(
        database_url=database_url,
        docker_host=engine.docker_host,
        manifests_directory=manifests,
        poll=timedelta(milliseconds=200),
        metrics_port=0,
    )
    built = build(settings)  # migrates the database
    pipeline = HealthyPipeline(database_url)
    try:
        yield built
    finally:
        built.close()
        pipeline.stop()


def settle(loop: ComposeLoop) -> bool:
    """One round, and its steps finished."""
    loop.round()
    assert loop.idle(120), "a remediation step still runs after two minutes"
    return True


def release_bad_image(engine: Engine, loop: ComposeLoop) -> None:
    """The good image runs (and the remediator sees it), then a release replaces it."""
    good = engine.start(engine.good)
    settle(loop)  # the remediator sees every service: the good image is recorded
    good.remove(force=True)
    engine.start(engine.bad)


def manifests_dir(loop: ComposeLoop) -> Path:
    return loop.manifests.directories[0]


def test_a_bad_release_is_rolled_back(engine: Engine, loop: ComposeLoop, database_url: str) -> None:
    release_bad_image(engine, loop)
    write_playbook(manifests_dir(loop), engine.project, "auto")
    open_incident(database_url, engine.project)

    def rolled_back() -> bool:
        settle(loop)
        return engine.images_running() == [engine.good] and bool(
            stored(database_url)["status"].get("actions")
        )

    eventually("the remediator rolls the service back", rolled_back, 90)
    eventually(
        "the run finishes",
        lambda: settle(loop) and stored(database_url)["phase"] != "Open",
        30,
    )
    row = stored(database_url)
    (action,) = row["status"]["actions"]
    assert (action["type"], action["result"]) == ("rollback", "Succeeded")
    assert f"to {engine.good}" in action["message"]
    assert row["phase"] in ("Mitigated", "Resolved")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        actions = connection.execute(
            "SELECT action, result FROM audit_log WHERE incident = %s ORDER BY id",
            (f"{engine.project}/{INCIDENT}",),
        ).fetchall()
    assert ("rollback", "Succeeded") in actions


def test_approval_mode_waits_for_the_api(
    engine: Engine, loop: ComposeLoop, database_url: str
) -> None:
    release_bad_image(engine, loop)
    write_playbook(manifests_dir(loop), engine.project, "approval")
    open_incident(database_url, engine.project)
    eventually(
        "the run waits for approval",
        lambda: settle(loop) and stored(database_url)["phase"] == "AwaitingApproval",
        30,
    )
    settle(loop)
    assert engine.images_running() == [engine.bad], "nothing changes before the approval"
    with logged_in_api(database_url) as client:
        detail = client.get(f"/api/v1/incidents/{INCIDENT}").json()
        assert detail["remediation"]["state"] == "AwaitingApproval"
        assert client.post(f"/api/v1/incidents/{INCIDENT}/approve").status_code == 202
    assert stored(database_url)["annotations"]["logsentinel.io/approved-by"] == "root"

    def rolled_back() -> bool:
        settle(loop)
        return engine.images_running() == [engine.good]

    eventually("the approved rollback runs", rolled_back, 90)
