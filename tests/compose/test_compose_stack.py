"""Docker Compose mode on a real engine: docker-compose.yml with a sample service.

The project's own tooling (``devstack compose``, what ``make compose-up`` runs) brings the
Compose project up with ``tests/compose/sample-service.yml``: on a machine with Docker on
Docker, here on Podman's Docker API (started by devstack) with the images built from this
checkout and the stand-ins for ``postgres`` and ``apache/kafka``. The sample service (the sample
app's failing version) writes error lines; the collector ships them to Kafka, the processors
store them: the test reads them from the Compose PostgreSQL (published on a loopback port by the
override) and checks their namespace (the Compose project) and service (the Compose service). The
API must answer ``/readyz`` and let the admin sign in. Everything, volumes included, is removed
at the end.

On Podman the engine's json-file driver writes CRI lines without labels, so the collector reads
per-service files there (see compose/collector.yaml); the branch of its configuration that reads
Docker's json-file layout is fed a file in that layout, written by the test where the Compose
file mounts Docker's container directory, and must deliver its Compose lines and drop the line of
a container that is not a Compose service. On Docker the sample service itself takes that branch.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack import compose, composebuild, images, kafka
from devstack.errors import StackError
from devstack.proc import free_port, wait_until
from support.compose_project import database_url, project_up

pytestmark = pytest.mark.compose

OVERRIDE = Path(__file__).with_name("sample-service.yml")
SAMPLE_SERVICE = "payment"
DOCKER_LAYOUT_SERVICE = "docker-layout"
DEADLINE = 180.0
"""Seconds from the stack being up to the lines being stored (measured: a few seconds)."""
SECRETS = tuple(compose.SECRETS)


@dataclass
class Stack:
    """A running Compose project and how to reach it."""

    target: compose.Target
    config: dict[str, Any]
    database_url: str
    api: str

    @property
    def project(self) -> str:
        return self.target.project

    def environment(self, service: str) -> dict[str, str]:
        return dict((self.config["services"][service].get("environment")) or {})


def write_docker_json_log(directory: Path, project: str) -> None:
    """A container log in Docker's json-file layout (``<id>/<id>-json.log``, the Compose labels
    in ``attrs`` as the logging options ask), plus a container without Compose labels."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    container = uuid.uuid4().hex * 2
    attrs = {
        "com.docker.compose.project": project,
        "com.docker.compose.service": DOCKER_LAYOUT_SERVICE,
        "com.docker.compose.container-number": "1",
    }
    lines = [
        {"log": json.dumps({"level": "error", "msg": f"docker layout line {n}"}) + "\n",
         "stream": "stderr", "attrs": attrs, "time": now}
        for n in (1, 2, 3)
    ]  # fmt: skip
    lines.append({"log": "a line of no Compose service\n", "stream": "stdout", "time": now})
    (directory / container).mkdir()
    with (directory / container / f"{container}-json.log").open("w") as file:
        file.writelines(json.dumps(line) + "\n" for line in lines)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The Compose project with the sample service, up and healthy; purged afterwards."""
    project = f"lstest-{uuid.uuid4().hex[:8]}"
    podman = compose.engine_kind(compose.Engine()) == "podman"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOGSENTINEL_API_PORT", str(free_port()))
        env.setenv("LOGSENTINEL_SAMPLE_IMAGE", images.build_sample_app(images.build_base())[1])
        if podman:
            docker_logs = tmp_path_factory.mktemp("docker-containers")
            write_docker_json_log(docker_logs, project)
            env.setenv("LOGSENTINEL_DOCKER_CONTAINERS", str(docker_logs))
        try:
            chosen = project_up(project, [OVERRIDE])
            config = chosen.config()
            host, port = compose.api_address(config)
            yield Stack(
                target=chosen,
                config=config,
                database_url=database_url(chosen, config),
                api=f"http://{host}:{port}",
            )
        finally:
            compose.down(project, [OVERRIDE], purge=True)


def stored(stack: Stack, service: str) -> list[dict[str, Any]]:
    """The lines stored for a service of the stack's project."""
    with psycopg.connect(stack.database_url, connect_timeout=5) as connection:
        cursor = connection.execute(
            "SELECT namespace, service, pod, container, stream, level::text, message"
            " FROM logs WHERE namespace = %s AND service = %s ORDER BY ts",
            (stack.project, service),
        )
        columns = [column.name for column in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def wait_for_lines(stack: Stack, service: str, count: int) -> list[dict[str, Any]]:
    """Poll the database until ``count`` lines of ``service`` are stored (or fail at the
    deadline, naming what was stored)."""
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = stored(stack, service)
        return len(found) >= count

    try:
        wait_until(f"{count} lines of {service} stored", enough, DEADLINE)
    except StackError as error:
        pytest.fail(f"{error}; stored: {found[:5]}", pytrace=False)
    return found


def http(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """Status and JSON answer of a GET (or a POST of ``body``)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# -- the file itself ---------------------------------------------------------------------------


def compose_config(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``compose config`` of docker-compose.yml alone, with exactly ``env`` (no .env file)."""
    cmd = [
        str(composebuild.binary()), "--project-directory", str(compose.COMPOSE_FILE.parent),
        "-f", str(compose.COMPOSE_FILE), "--env-file", os.devnull, "config", *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def base_env(**values: str) -> dict[str, str]:
    """The environment without any LOGSENTINEL_* setting, plus ``values``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGSENTINEL_")}
    return {**env, **values}


def test_compose_file_is_valid() -> None:
    secrets = dict.fromkeys(SECRETS, "a" * 48)
    code, _, errors = compose_config(base_env(**secrets), "--quiet")
    assert code == 0, errors


@pytest.mark.parametrize("missing", SECRETS)
def test_a_missing_secret_is_named(missing: str) -> None:
    secrets = {name: "a" * 48 for name in SECRETS if name != missing}
    code, _, errors = compose_config(base_env(**secrets), "--quiet")
    assert code != 0
    assert f"required variable {missing} is missing a value: set {missing}" in errors


def test_default_images_are_the_public_ones_and_the_project_builds() -> None:
    secrets = dict.fromkeys(SECRETS, "a" * 48)
    code, out, errors = compose_config(base_env(**secrets), "--format", "json")
    assert code == 0, errors
    services = json.loads(out)["services"]
    assert services["api"]["image"] == images.logsentinel_tag()
    assert (
        services["processor"]["image"] == services["migrate"]["image"] == images.logsentinel_tag()
    )
    assert services["collector"]["image"] == images.otelcol_tag()
    assert services["kafka"]["image"] == f"apache/kafka:{kafka.KAFKA_VERSION}"
    # the stand-ins are the same versions (PostgreSQL: the same major)
    assert images.kafka_tag().endswith(f":{kafka.KAFKA_VERSION}")
    major = images.postgres_version().split(".")[0]
    assert services["postgres"]["image"] == f"postgres:{major}"
    assert services["api"]["ports"][0]["published"] == "8000"
    assert services["api"]["ports"][0]["host_ip"] == "127.0.0.1"


# -- the running stack -------------------------------------------------------------------------


def test_sample_error_lines_are_stored_with_the_compose_service(stack: Stack) -> None:
    lines = wait_for_lines(stack, SAMPLE_SERVICE, 20)
    for line in lines:
        assert line["namespace"] == stack.project
        assert line["service"] == SAMPLE_SERVICE
        assert line["container"] == SAMPLE_SERVICE
        assert line["pod"].startswith(f"{stack.project}-{SAMPLE_SERVICE}")
        assert line["stream"] == "stdout"
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) >= 20, lines[:3]
    assert all("card processor timeout" in line["message"] for line in errors)


def test_the_product_services_own_lines_are_collected(stack: Stack) -> None:
    """The collector ships every service that logs through x-collected-logging, the product's
    own included (here the migration's one line), and not its own lines."""
    migrate = wait_for_lines(stack, "migrate", 1)
    assert any("database at revision" in line["message"] for line in migrate)
    assert stored(stack, "collector") == []


def test_docker_json_file_layout_is_collected(stack: Stack) -> None:
    if stack.target.engine == "podman":
        lines = wait_for_lines(stack, DOCKER_LAYOUT_SERVICE, 3)
        assert {line["message"] for line in lines} == {f"docker layout line {n}" for n in (1, 2, 3)}
        assert {line["pod"] for line in lines} == {f"{stack.project}-{DOCKER_LAYOUT_SERVICE}-1"}
        assert {(line["stream"], line["level"]) for line in lines} == {("stderr", "error")}
        with psycopg.connect(stack.database_url, connect_timeout=5) as connection:
            strays = connection.execute(
                "SELECT count(*) FROM logs WHERE message LIKE '%no Compose service%'"
            ).fetchone()
        assert strays == (0,)
    else:  # Docker: the sample service's own lines came through this layout
        lines = wait_for_lines(stack, SAMPLE_SERVICE, 1)
        assert lines[0]["pod"] == f"{stack.project}-{SAMPLE_SERVICE}-1"


def test_api_is_ready_and_the_admin_signs_in(stack: Stack) -> None:
    status, ready = http(f"{stack.api}/readyz")
    assert (status, ready["status"]) == (200, "ok"), ready
    environment = stack.environment("api")
    credentials = {
        "username": environment["LOGSENTINEL_ADMIN_USERNAME"],
        "password": environment["LOGSENTINEL_ADMIN_PASSWORD"],
    }
    status, tokens = http(f"{stack.api}/api/v1/auth/login", credentials)
    assert status == 200, tokens
    assert tokens["access_token"]
    wrong = {**credentials, "password": credentials["password"] + "x"}
    status, _ = http(f"{stack.api}/api/v1/auth/login", wrong)
    assert status == 401
