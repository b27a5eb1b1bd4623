"""Docker Compose on this machine, and the commands behind ``make compose-up``/``compose-down``.

The ``compose`` component is a Docker Engine API for Compose where there is no Docker:

- ``podman system service --time=0 unix://.stack/compose/podman.sock``, run with the project's
  containers.conf (``images.podman_env``: runc, cgroupfs, a file for events, explicit ulimits);
- ``python -m devstack.healthtimer``: Podman runs health checks from systemd timers, and there is
  no systemd here, so this process runs them (without it Compose would wait forever on
  ``condition: service_healthy``);
- the Compose client, built from the Go module proxy (``composebuild``), also linked as the
  ``docker compose`` plugin of a ``DOCKER_CONFIG`` of its own (``devstack env compose``).

``LOGSENTINEL_DOCKER_HOST`` names an engine to use instead; the component then starts nothing.
The component is not part of ``make up``: ``python -m devstack up compose`` or ``make
compose-up`` start it, ``python -m devstack down compose`` or ``make compose-down`` stop it.

``python -m devstack compose up|down|purge|config|status`` runs the Compose project of
``docker-compose.yml`` (project ``logsentinel``, or ``LOGSENTINEL_COMPOSE_PROJECT``) on:

1. the engine of ``LOGSENTINEL_DOCKER_HOST`` when set, with the Compose client built here;
2. else a Docker engine that answers, with its own ``docker compose`` (a machine with Docker);
3. else Podman's, started here. The images then come from this checkout: the product, the
   collector agent and the stand-ins for ``postgres`` and ``apache/kafka`` are built with
   Buildah (``images``) and named by the file's image variables; an override file sends each
   collected service's log to ``.stack/compose/logs/<project>/<service>.log`` (Podman's
   json-file driver writes CRI lines without the labels the collector reads on Docker), which
   the collector mounts. See docs/compose.md.

The secrets the file requires (PostgreSQL password, JWT secret, admin password) are generated
once per project into ``.stack/compose/<project>.env``; values from the environment or the
repository's ``.env`` win over them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import composebuild, images, log, otelbuild, paths
from devstack.component import Component
from devstack.errors import MissingPrerequisite, StackError
from devstack.proc import Daemon, load_json, require_tool, save_json, wait_until

ENGINE_VAR = "LOGSENTINEL_DOCKER_HOST"
PROJECT_VAR = "LOGSENTINEL_COMPOSE_PROJECT"
COMPOSE_FILE = paths.REPO_ROOT / "docker-compose.yml"
DEFAULT_PROJECT = "logsentinel"
DOCKER_SOCKET = Path("/var/run/docker.sock")
MAX_SOCKET_PATH = 107
LOG_MOUNT = "/var/log/logsentinel-compose"
"""Where the collector finds the per-service log files on Podman (compose/collector.yaml)."""
DOCKER_LOG_MOUNT = "/var/lib/docker/containers"
"""Where the collector finds Docker's json-file logs (compose/collector.yaml)."""
COLLECTED_LABEL = "com.docker.compose.service"
"""A service whose logging options list this label logs through ``x-collected-logging``."""
WAIT_TIMEOUT = 600
PODMAN_HINT = "Install it with `apt-get install podman`, or use a machine with Docker."
SECRETS = {
    "LOGSENTINEL_POSTGRES_PASSWORD": 24,
    "LOGSENTINEL_JWT_SECRET": 48,
    "LOGSENTINEL_ADMIN_PASSWORD": 20,
}
"""Generated secrets and their length in hex characters (URL-safe: the password is in a URL)."""


def _ping(socket_path: Path) -> bool:
    """True when a Docker Engine API answers ``GET /_ping`` on the Unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(str(socket_path))
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        answer = sock.recv(4096)
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0] + b" "


class Engine(Component):
    """Podman's Docker Engine API on a socket of the state directory, with its health checks."""

    name = "compose"
    external_var = ENGINE_VAR

    @property
    def socket(self) -> Path:
        """The API's Unix socket (a path of at most 107 bytes)."""
        path = self.state / "podman.sock"
        if len(str(path).encode()) > MAX_SOCKET_PATH:
            raise StackError(
                f"the socket path {path} is longer than a Unix socket allows ({MAX_SOCKET_PATH}"
                " bytes): point LOGSENTINEL_STATE_DIR at a shorter directory"
            )
        return path

    @property
    def service(self) -> Daemon:
        """``podman system service``."""
        return Daemon("podman-service", self.state)

    @property
    def timer(self) -> Daemon:
        """The health-check timer."""
        return Daemon("healthchecks", self.state)

    def daemons(self) -> list[Daemon]:
        return [self.service, self.timer]

    def docker_config(self) -> Path:
        """A ``DOCKER_CONFIG`` whose ``cli-plugins/docker-compose`` is the Compose built here."""
        directory = self.state / "docker-config"
        plugin = directory / "cli-plugins" / "docker-compose"
        plugin.parent.mkdir(parents=True, exist_ok=True)
        binary = composebuild.binary()
        if not plugin.is_symlink() or plugin.readlink() != binary:
            plugin.unlink(missing_ok=True)
            plugin.symlink_to(binary)
        return directory

    def build(self) -> None:
        """The Compose client and the images the Compose file names (all cached)."""
        require_tool("podman", "to serve the Docker Engine API for Compose", PODMAN_HINT)
        composebuild.build()
        images.build_all(list(COMPOSE_IMAGES))

    def running(self) -> bool:
        """The service answers on its socket and the health-check timer runs."""
        if load_json(self.state / "state.json") is None:
            return False
        if not (self.service.alive() and self.timer.alive()):
            return False
        try:
            return _ping(self.socket)
        except OSError:
            return False

    def address(self) -> str:
        """``unix://<socket>``: the DOCKER_HOST of the engine."""
        return f"unix://{self.socket}"

    def _start(self) -> None:
        podman = require_tool("podman", "to serve the Docker Engine API for Compose", PODMAN_HINT)
        env = images.podman_env()
        self.socket.unlink(missing_ok=True)
        service = self.service
        service.start([podman, "system", "service", "--time=0", self.address()], env=env)
        wait_until(
            f"the Docker API on {self.socket}", lambda: _ping(self.socket), 30,
            failure=service.fail, alive=service.alive,
        )  # fmt: skip
        ready = self.state / "healthchecks.ready"
        ready.unlink(missing_ok=True)
        timer = self.timer
        timer.start(
            [sys.executable, "-m", "devstack.healthtimer", str(ready)],
            env={**env, "PYTHONPATH": str(paths.REPO_ROOT / "tools")},
        )
        wait_until(
            "the health-check timer follows the engine's events", ready.is_file, 30,
            failure=timer.fail, alive=timer.alive,
        )  # fmt: skip
        save_json(self.state / "state.json", {"docker_host": self.address()})

    def _stop(self) -> None:
        self.timer.stop()
        self.service.stop(timeout=30)
        (self.state / "state.json").unlink(missing_ok=True)

    def exports(self) -> dict[str, str]:
        """DOCKER_HOST (and a DOCKER_CONFIG with the compose plugin) for the docker CLI."""
        if self.external():
            return {ENGINE_VAR: self.external() or ""}
        if not self.running():
            return {}
        # not ENGINE_VAR: that would make later devstack calls take this engine for another's
        return {"DOCKER_HOST": self.address(), "DOCKER_CONFIG": str(self.docker_config())}


COMPOSE_IMAGES = ("logsentinel", "otelcol", "postgres", "kafka")
"""The images docker-compose.yml names, built here for Podman."""


def local_images() -> dict[str, str]:
    """The Compose file's image variables, set to the images built from this checkout."""
    return {
        "LOGSENTINEL_IMAGE": images.logsentinel_tag(),
        "LOGSENTINEL_COLLECTOR_IMAGE": images.otelcol_tag(),
        "LOGSENTINEL_POSTGRES_IMAGE": images.postgres_tag(),
        "LOGSENTINEL_KAFKA_IMAGE": images.kafka_tag(),
    }


def _docker_answers() -> bool:
    """A Docker engine answers the ``docker`` CLI (DOCKER_HOST, or /var/run/docker.sock)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    done = subprocess.run(
        [docker, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def _docker_compose_plugin() -> bool:
    docker = shutil.which("docker")
    return (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=20, check=False
        ).returncode
        == 0
    )


@dataclass
class Target:
    """Where and with what a Compose project runs."""

    engine: str  # "podman" (started here), "docker" or "external"
    client: list[str]
    env: dict[str, str]
    project: str
    files: list[Path]
    state: Path = field(default_factory=lambda: paths.state_dir("compose"))

    @property
    def logs(self) -> Path:
        """On Podman: the per-service log files of this project."""
        return self.state / "logs" / self.project

    @property
    def secrets_file(self) -> Path:
        return self.state / f"{self.project}.env"

    @property
    def override(self) -> Path:
        return self.state / f"{self.project}.podman.yml"

    def argv(self, *args: str, with_override: bool = True) -> list[str]:
        """The Compose command line for this project."""
        files = list(self.files)
        if self.engine == "podman" and with_override and self.override.is_file():
            files.append(self.override)
        cmd = [*self.client, "--project-directory", str(paths.REPO_ROOT), "-p", self.project]
        for file in files:
            cmd += ["-f", str(file)]
        cmd += ["--env-file", str(self.secrets_file)]
        user_env = paths.REPO_ROOT / ".env"
        if user_env.is_file():  # the user's settings win over the generated ones
            cmd += ["--env-file", str(user_env)]
        return [*cmd, *args]

    def run(
        self, *args: str, capture: bool = True, check: bool = True, with_override: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run Compose; ``capture=False`` lets its progress through to the terminal."""
        cmd = self.argv(*args, with_override=with_override)
        done = subprocess.run(
            cmd,
            env=self.env,
            cwd=paths.REPO_ROOT,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            detail = (done.stderr or "").strip() if capture else "(see its output above)"
            raise StackError(f"`{' '.join(cmd[len(self.client) :])}` failed: {detail}")
        return done

    def config(self, *, with_override: bool = True) -> dict[str, Any]:
        """The project's resolved configuration (``config --format json``)."""
        done = self.run("config", "--format", "json", with_override=with_override)
        document = json.loads(done.stdout)
        if not isinstance(document, dict):
            raise StackError("`compose config --format json` did not print an object")
        return document


def engine_kind(engine: Engine) -> str:
    """``external`` (LOGSENTINEL_DOCKER_HOST), ``docker`` (an engine answers the docker CLI,
    other than this component's) or ``podman`` (this component's)."""
    if engine.external():
        return "external"
    if os.environ.get("DOCKER_HOST") != engine.address() and _docker_answers():
        return "docker"
    return "podman"


def target(
    project: str | None = None, files: list[Path] | None = None, *, start: bool = True
) -> Target:
    """The engine and client for a project (starting Podman's engine when it is the one and
    ``start``), with the secrets file in place."""
    project = project or os.environ.get(PROJECT_VAR) or DEFAULT_PROJECT
    files = [COMPOSE_FILE, *(files or [])]
    env = dict(os.environ)
    engine = Engine()
    kind = engine_kind(engine)
    if kind == "external":
        env["DOCKER_HOST"] = engine.external() or ""
        chosen = Target(kind, [str(composebuild.binary())], env, project, files)
    elif kind == "docker":
        client = ["docker", "compose"] if _docker_compose_plugin() else [str(composebuild.binary())]
        chosen = Target(kind, client, env, project, files)
    else:
        if start:
            engine.start()
        env["DOCKER_HOST"] = engine.address()
        defaults = {
            **local_images(),
            "LOGSENTINEL_DOCKER_CONTAINERS": str(docker_containers_dir()),
            "LOGSENTINEL_DOCKER_SOCKET": str(engine.socket),
        }
        for key, value in defaults.items():
            env.setdefault(key, value)  # what the caller sets wins
        chosen = Target(kind, [str(composebuild.binary())], env, project, files)
    _ensure_secrets(chosen.secrets_file)
    return chosen


def docker_containers_dir() -> Path:
    """On Podman, what the collector mounts as Docker's container log directory: empty, unless
    a test writes Docker's json-file layout there."""
    directory = paths.state_dir("compose") / "docker-containers"
    directory.mkdir(exist_ok=True)
    return directory


def _ensure_secrets(path: Path) -> None:
    """Generate the project's secrets once (kept with its volumes: the database has the
    password it was initialised with)."""
    if path.is_file():
        return
    lines = ["# Generated by devstack for one Compose project; removed by `compose purge`."]
    lines += [f"{key}={secrets.token_hex(length // 2)}" for key, length in SECRETS.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def collected_services(config: dict[str, Any]) -> list[str]:
    """The services that log through ``x-collected-logging`` (their lines reach Kafka)."""
    found = []
    for name, service in (config.get("services") or {}).items():
        options = ((service.get("logging") or {}).get("options")) or {}
        if COLLECTED_LABEL in str(options.get("labels", "")).split(","):
            found.append(name)
    return sorted(found)


def collector_services(config: dict[str, Any]) -> list[str]:
    """The services that mount Docker's container log directory: the collector."""
    return sorted(
        name
        for name, service in (config.get("services") or {}).items()
        if any(v.get("target") == DOCKER_LOG_MOUNT for v in service.get("volumes") or [])
    )


def podman_override(config: dict[str, Any], project: str, logs: Path) -> str:
    """The override file for Podman: each collected service logs to
    ``<logs>/<service>.log`` (``!override``: Podman's json-file driver takes no labels), and
    the collector mounts ``<logs>/..`` where compose/collector.yaml reads it."""
    lines = [
        f"# Generated by devstack for the Compose project {project} on Podman.",
        "services:",
    ]
    for name in collected_services(config):
        logging = {"driver": "json-file", "options": {"path": str(logs / f"{name}.log")}}
        lines += [f"  {json.dumps(name)}:", f"    logging: !override {json.dumps(logging)}"]
    for name in collector_services(config):
        mount = {"type": "bind", "source": str(logs.parent), "target": LOG_MOUNT, "read_only": True}
        lines += [f"  {json.dumps(name)}:", f"    volumes: [{json.dumps(mount)}]"]
    return "\n".join(lines) + "\n"


def api_address(config: dict[str, Any]) -> tuple[str, int]:
    """Host address and port of the API's published port."""
    api = (config.get("services") or {}).get("api") or {}
    for port in api.get("ports") or []:
        if int(port.get("target", 0)) == 8080:
            return str(port.get("host_ip") or "127.0.0.1"), int(port["published"])
    raise StackError("the Compose file publishes no port for the api service's 8080")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _check_images(chosen: Target, config: dict[str, Any]) -> None:
    """On Docker: the collector agent's image has no public build; say how to get it."""
    if chosen.engine != "docker":
        return
    collector = ((config.get("services") or {}).get("collector") or {}).get("image", "")
    if not collector.startswith("localhost/"):
        return
    found = subprocess.run(
        ["docker", "image", "inspect", collector], env=chosen.env, capture_output=True, check=False
    )
    if found.returncode != 0:
        raise MissingPrerequisite(
            f"the collector image {collector} is not in Docker: build it with `make images` and"
            f" load it (`podman save {collector} | docker load`), or set"
            " LOGSENTINEL_COLLECTOR_IMAGE to an OpenTelemetry Collector Contrib image of the"
            f" same version ({otelbuild.version()})"
        )


def up(project: str | None = None, files: list[Path] | None = None) -> Target:
    """Start the project and wait until every service is healthy (one-shots: done)."""
    started = time.monotonic()
    engine = Engine()
    if engine_kind(engine) == "podman" and engine.running():
        # a running engine is not built again by target(): the images may have changed since
        images.build_all(list(COMPOSE_IMAGES))
    chosen = target(project, files)
    log.info("compose", step="engine", engine=chosen.engine, project=chosen.project)
    base = chosen.config(with_override=False)  # also validates the files and the variables
    if chosen.engine == "podman":
        chosen.logs.mkdir(parents=True, exist_ok=True)
        chosen.override.write_text(podman_override(base, chosen.project, chosen.logs))
    config = chosen.config()
    _check_images(chosen, config)
    host, port = api_address(config)
    running = chosen.run("ps", "--quiet", "api").stdout.strip()
    if not running and not _port_free(host, port):
        raise StackError(
            f"{host}:{port} is taken (by `make dashboard`?): free it or choose another port with"
            " LOGSENTINEL_API_PORT=<port>"
        )
    # Podman 4.3's API names a container's networks where Compose expects their IDs, so Compose
    # would recreate every container on every `up`: when nothing changed, tell it not to.
    keep = chosen.engine == "podman" and _unchanged(chosen, config)
    log.info(
        "compose", step="up", services=len(config.get("services") or {}), wait="healthy",
        recreate="no (nothing changed)" if keep else "what changed",
    )  # fmt: skip
    done = chosen.run(
        "--progress", "plain", "up", "--detach", "--wait", "--wait-timeout", str(WAIT_TIMEOUT),
        *(["--no-recreate"] if keep else []), capture=False, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        _report_failure(chosen)
        raise StackError(
            f"`compose up` of project {chosen.project} failed (exit {done.returncode}); the"
            f" states and last log lines of its services are above; stop it with `make"
            f" compose-down`"
        )
    seconds = time.monotonic() - started
    log.info("compose", step="ready", project=chosen.project, seconds=f"{seconds:.1f}")
    _print_access(chosen, config, host, port, seconds)
    return chosen


def _labels(text: str) -> dict[str, str]:
    """``ps --format json``'s Labels (``k=v,k=v``; a value with commas loses its tail)."""
    pairs = (item.partition("=") for item in text.split(","))
    return {key: value for key, sep, value in pairs if sep}


def _unchanged(chosen: Target, config: dict[str, Any]) -> bool:
    """Every service has a container made from its current configuration and image."""
    hashes = dict(
        line.split(maxsplit=1) for line in chosen.run("config", "--hash", "*").stdout.splitlines()
    )
    containers: dict[str, dict[str, str]] = {}
    for line in chosen.run("ps", "--all", "--format", "json").stdout.splitlines():
        entry = json.loads(line)
        containers[str(entry.get("Service"))] = _labels(str(entry.get("Labels", "")))
    for name, service in (config.get("services") or {}).items():
        labels = containers.get(name)
        if labels is None or labels.get("com.docker.compose.config-hash") != hashes.get(name):
            return False
        image = images.image_id(str(service.get("image", "")))
        if image is None or labels.get("com.docker.compose.image") != f"sha256:{image}":
            return False
    return True


def _report_failure(chosen: Target) -> None:
    """The services' states, and the last lines of those that are not running or healthy."""
    states = chosen.run("ps", "--all", "--format", "json", check=False).stdout
    print(chosen.run("ps", "--all", check=False).stdout, file=sys.stderr)
    for line in states.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        healthy = entry.get("Health") in ("", "healthy") and entry.get("State") == "running"
        if not healthy and entry.get("Service"):
            tail = chosen.run("logs", "--no-color", "--tail", "20", entry["Service"], check=False)
            print(f"--- {entry['Service']} ({entry.get('Status')}):", file=sys.stderr)
            print((tail.stdout + tail.stderr).rstrip(), file=sys.stderr)


def _print_access(
    chosen: Target, config: dict[str, Any], host: str, port: int, seconds: float
) -> None:
    api = (config.get("services") or {}).get("api") or {}
    environment = api.get("environment") or {}
    user = environment.get("LOGSENTINEL_ADMIN_USERNAME", "admin")
    password = environment.get("LOGSENTINEL_ADMIN_PASSWORD", "")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(
        f"\nLog Sentinel runs in Docker Compose (project {chosen.project}, engine"
        f" {chosen.engine}, up in {seconds:.0f} s):\n"
        f"  dashboard and API  http://{shown}:{port}/   (API docs: http://{shown}:{port}/docs)\n"
        f"  sign in as         {user} / {password}\n"
        f"                     (LOGSENTINEL_ADMIN_PASSWORD, from {chosen.secrets_file}"
        " unless set in the environment or .env)\n"
        "  stop               make compose-down   (data kept; `python -m devstack compose purge`"
        " removes it)\n",
        flush=True,
    )


def down(
    project: str | None = None, files: list[Path] | None = None, *, purge: bool = False
) -> None:
    """Stop the project (``purge``: with its volumes, log files and secrets); then stop
    Podman's engine when no Compose container is left on it."""
    engine = Engine()
    podman = engine_kind(engine) == "podman"
    chosen = target(project, files, start=False)
    if podman and not engine.running():
        if not _podman_containers(chosen.project):
            if purge:
                _forget(chosen)
            log.info("compose", step="down", detail="the engine is not running")
            return
        engine.start()  # the project's containers outlived the engine: Compose removes them
    args = ["down", "--remove-orphans", *(["--volumes"] if purge else [])]
    chosen.run("--progress", "plain", *args, capture=False)
    if purge:
        _forget(chosen)
    if chosen.engine == "podman":
        left = _podman_containers()
        if left:
            log.info("compose", step="engine kept", containers=len(left))
        else:
            engine.stop()
    log.info("compose", step="down", project=chosen.project, purged=purge)


def _podman_containers(project: str | None = None) -> list[str]:
    """The IDs of the Compose containers Podman holds (of ``project`` when given), running or
    not, asked of Podman itself so that it works while its API service is stopped."""
    label = "com.docker.compose.project" + (f"={project}" if project else "")
    return subprocess.run(
        ["podman", "ps", "--all", "--quiet", "--filter", f"label={label}"],
        env=images.podman_env(),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()


def _forget(chosen: Target) -> None:
    shutil.rmtree(chosen.logs, ignore_errors=True)
    chosen.override.unlink(missing_ok=True)
    chosen.secrets_file.unlink(missing_ok=True)


def status(project: str | None = None) -> None:
    """The services' states; on Podman also the memory of each container's processes and of
    the engine's: RSS, and PSS (shared pages split between the processes that share them, so
    that PostgreSQL's shared buffers count once)."""
    chosen = target(project, start=False)
    print(chosen.run("ps", "--all").stdout)
    if chosen.engine != "podman":
        return
    rows: list[tuple[str, list[int]]] = []
    for line in chosen.run("ps", "--format", "json").stdout.splitlines():
        entry = json.loads(line)
        top = subprocess.run(
            ["podman", "top", str(entry["ID"]), "hpid"],
            env=images.podman_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        pids = [int(pid) for pid in top.stdout.split()[1:] if pid.isdigit()]
        rows.append((str(entry.get("Service") or entry["ID"]), pids))
    engine = Engine()
    for daemon in engine.daemons():
        pid = daemon.pid()
        rows.append((f"{daemon.name} (devstack)", [] if pid is None else _group(pid)))
    total_rss = total_pss = 0
    for name, pids in rows:
        memory = [_memory_kib(pid) for pid in pids]
        rss, pss = sum(m[0] for m in memory), sum(m[1] for m in memory)
        total_rss, total_pss = total_rss + rss, total_pss + pss
        print(f"  {name:28} rss={rss // 1024:5}MiB  pss={pss // 1024:5}MiB")
    print(f"  {'total':28} rss={total_rss // 1024:5}MiB  pss={total_pss // 1024:5}MiB")


def _group(pgid: int) -> list[int]:
    """The processes of a process group (a daemon and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
                found.append(int(entry.name))
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; zeros when it is gone."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(" ")
            if key in values:
                values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values["Rss:"], values["Pss:"]


def main(args: list[str]) -> int:
    """``compose up|down|purge|config|status [FILE...]``: extra files are overrides."""
    actions = ("up", "down", "purge", "config", "status")
    if not args or args[0] not in actions:
        raise StackError(f"compose needs an action: {' | '.join(actions)} (then override files)")
    action, files = args[0], [Path(name).resolve() for name in args[1:]]
    if action == "up":
        up(files=files)
    elif action in ("down", "purge"):
        down(files=files, purge=action == "purge")
    elif action == "config":
        chosen = target(files=files, start=False)
        chosen.run("config", "--quiet", with_override=False)
        log.info("compose", step="config", files=" ".join(str(f) for f in chosen.files), valid=True)
    else:
        status()
    return 0
