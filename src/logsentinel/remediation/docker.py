"""The Executor for Docker Compose: reads and changes the containers of a Compose service through
the Docker Engine API (the Docker SDK for Python), and runs runJob steps as one-off containers.

A target is a ComposeService: its namespace is the Compose project, its name the service; its
containers are those carrying both Compose labels (one-off containers of `compose run` are not
replicas). Docker keeps no history of a service and its labels cannot change, so two things the
Kubernetes executor finds on the workload are kept in a ServiceMemory instead (PostgreSQL in
production): the action marker with its time, and the images each service was seen running
(a rollback goes back to the newest one before the current image).

Changes are applied one container at a time. A rollback replaces a container: the old one is
set aside (renamed and stopped, which frees its published ports), a copy of its configuration
with the other image is created under its name and started; if the copy does not run (or is not
healthy, when it has a health check) it is removed and the old container is started again. A
new replica (scaling up) is such a copy of the last replica, without published ports. Copies
keep what the old container was created with (environment, command, mounts, networks, ports,
restart policy, labels): values an image sets as defaults are carried over too, and the next
`docker compose up` recreates the service from the Compose file (pin the image there to keep a
rollback).

The marker is written after the change (Docker has no atomic "change and annotate"): a run that
dies between the two repeats the change, which every change here tolerates (a second restart, a
rollback to the image already running, scaling to the count already there, a job container
found by its name).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Protocol

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from logsentinel.domain.common import MANAGED_BY_LABEL, PRODUCT, WorkloadKind, WorkloadRef
from logsentinel.domain.incident import INCIDENT_LABEL
from logsentinel.remediation.executor import (
    ExecutorError,
    JobPhase,
    JobRequest,
    JobState,
    TargetNotFoundError,
    TargetState,
)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"
DEADLINE_LABEL = "logsentinel.io/deadline"
"""On a job container: when it is stopped if still running (epoch seconds)."""
JOB_LOG_LINES = 20
STOP_SECONDS = 10
"""How long a container gets to stop before it is killed."""
START_WAIT_SECONDS = 30.0
"""How long a replacement may take to run (and be healthy, when it has a health check)."""
SETTLE_SECONDS = 3.0
"""How long a started container must keep running before it counts as started."""


class SeenImage(Protocol):
    """An image a service ran: the reference it was started with and the image's id."""

    @property
    def reference(self) -> str: ...

    @property
    def image_id(self) -> str: ...

    @property
    def first_seen(self) -> datetime: ...


class ServiceMemory(Protocol):
    """What the executor remembers about services between calls and restarts."""

    def marker(self, target: WorkloadRef) -> tuple[str, datetime] | None: ...

    def set_marker(self, target: WorkloadRef, marker: str, at: datetime) -> None: ...

    def saw_images(self, target: WorkloadRef, images: list[tuple[str, str]], at: datetime) -> None:
        """Record (reference, image id) pairs running now; the first sighting keeps its time."""
        ...

    def images(self, target: WorkloadRef) -> Sequence[SeenImage]:
        """Every image recorded for the service, oldest first sighting first."""
        ...


# --- pure helpers ----------------------------------------------------------------------------


def is_replica(labels: dict[str, str], target: WorkloadRef) -> bool:
    return (
        labels.get(PROJECT_LABEL) == target.namespace
        and labels.get(SERVICE_LABEL) == target.name
        and labels.get(ONEOFF_LABEL, "False") != "True"
    )


def number_of(labels: dict[str, str]) -> int:
    try:
        return int(labels.get(NUMBER_LABEL, "0"))
    except ValueError:
        return 0


def is_ready(attrs: dict[str, Any]) -> bool:
    """Running, and healthy when the container has a health check."""
    state = attrs.get("State") or {}
    if state.get("Status") != "running":
        return False
    health = (state.get("Health") or {}).get("Status")
    return health in (None, "", "healthy")


def previous_image(seen: Sequence[SeenImage], current_ids: set[str]) -> SeenImage | None:
    """The newest image the service ran before the one(s) it runs now."""
    older = [image for image in seen if image.image_id not in current_ids]
    return max(older, key=lambda image: image.first_seen) if older else None


def _portable_host_config(host: dict[str, Any]) -> dict[str, Any]:
    """A HostConfig from an inspect document as a create request takes it: Podman reports
    ulimits as ``RLIMIT_NOFILE`` but accepts only ``nofile``."""
    limits = [
        {**limit, "Name": str(limit.get("Name", "")).removeprefix("RLIMIT_").lower()}
        for limit in host.get("Ulimits") or []
    ]
    return {**host, "Ulimits": limits or None}


def copy_arguments(
    attrs: dict[str, Any], image: str, name: str, labels: dict[str, str]
) -> dict[str, Any]:
    """Arguments of the low-level create_container that recreate a container from its inspect
    document with another image, name and labels."""
    config = attrs.get("Config") or {}
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = {
        network: {"Aliases": [a for a in (endpoint.get("Aliases") or []) if a]}
        for network, endpoint in networks.items()
    }
    return {
        "image": image,
        "name": name,
        "command": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"),
        "environment": config.get("Env"),
        "user": config.get("User") or None,
        "working_dir": config.get("WorkingDir") or None,
        "labels": labels,
        "healthcheck": config.get("Healthcheck"),
        "stop_signal": config.get("StopSignal"),
        "ports": list((config.get("ExposedPorts") or {}).keys()) or None,
        "host_config": _portable_host_config(attrs.get("HostConfig") or {}),
        "networking_config": {"EndpointsConfig": endpoints} if endpoints else None,
    }


def name_of(container: Container) -> str:
    return container.name or str(container.id)


def image_reference(container: Container) -> str:
    """The image as the container was created with it (``registry/app:2``)."""
    return str((container.attrs.get("Config") or {}).get("Image", ""))


def image_id(container: Container) -> str:
    return str(container.attrs.get("Image", ""))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class DockerExecutor:
    """The Executor protocol on the Docker Engine API (Docker, or Podman's compatible service)."""

    def __init__(
        self,
        client: docker.DockerClient,
        memory: ServiceMemory,
        *,
        clock: Callable[[], float] = time.monotonic,
        start_wait: float = START_WAIT_SECONDS,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self.client = client
        self.memory = memory
        self.clock = clock
        self.start_wait = start_wait
        self.settle = settle

    # --- reading ---------------------------------------------------------------------------

    def replicas(self, target: WorkloadRef) -> list[Container]:
        """The service's containers, by container number."""
        self._check_kind(target)
        with self._failures(target):
            found = self.client.containers.list(
                all=True,
                filters={
                    "label": [
                        f"{PROJECT_LABEL}={target.namespace}",
                        f"{SERVICE_LABEL}={target.name}",
                    ]
                },
            )
        replicas = [c for c in found if is_replica(c.labels, target)]
        return sorted(replicas, key=lambda c: (number_of(c.labels), c.name))

    def observe(self) -> int:
        """Record the images every Compose service on the host runs now (a rollback needs the
        image a service ran before a bad release, so services are watched before incidents);
        how many services were seen."""
        try:
            running = self.client.containers.list(filters={"label": [PROJECT_LABEL, SERVICE_LABEL]})
        except DockerException as error:
            raise ExecutorError(f"Docker: {error}") from error
        by_service: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for container in running:
            if container.labels.get(ONEOFF_LABEL, "False") == "True":
                continue
            key = (container.labels[PROJECT_LABEL], container.labels[SERVICE_LABEL])
            by_service.setdefault(key, []).append((image_reference(container), image_id(container)))
        now = datetime.now(UTC)
        for (project, service), seen in by_service.items():
            try:
                ref = WorkloadRef(
                    kind=WorkloadKind.COMPOSE_SERVICE, namespace=project, name=service
                )
            except ValueError:
                continue  # a name no incident can carry as its target
            self.memory.saw_images(ref, seen, now)
        return len(by_service)

    def target_state(self, target: WorkloadRef) -> TargetState:
        replicas = self.replicas(target)
        if not replicas:
            raise TargetNotFoundError(
                f"no container of Compose service {target.name} in project {target.namespace}"
            )
        running = self._record_images(target, replicas)
        ready = sum(1 for c in replicas if is_ready(c.attrs))
        images = {name_of(c): image_reference(c) for c in running or replicas}
        marked = self.memory.marker(target)
        desired = len(replicas)
        return TargetState(
            ref=target,
            desired_replicas=desired,
            ready_replicas=ready,
            available_replicas=ready,
            updated_replicas=desired,
            generation=1,
            observed_generation=1,
            images=images,
            last_action=marked[0] if marked else None,
            last_action_at=_utc(marked[1]) if marked else None,
            labels={SERVICE_LABEL: target.name},
        )

    def _record_images(self, target: WorkloadRef, replicas: list[Container]) -> list[Container]:
        """Remember the images the running replicas run; the running replicas."""
        running = [c for c in replicas if (c.attrs.get("State") or {}).get("Status") == "running"]
        pairs = [(image_reference(c), image_id(c)) for c in running]
        self.memory.saw_images(target, pairs, datetime.now(UTC))
        return running

    # --- changes ---------------------------------------------------------------------------

    def rollout_restart(self, target: WorkloadRef, marker: str, at: datetime) -> str:
        replicas = self._existing(target)
        with self._failures(target):
            for container in replicas:
                container.restart(timeout=STOP_SECONDS)
                self._wait_ready(target, name_of(container))
        self.memory.set_marker(target, marker, at)
        return f"restarted {len(replicas)} container(s) of {self._describe(target)}"

    def rollback(
        self,
        target: WorkloadRef,
        marker: str,
        at: datetime,
        image: str | None = None,
        container: str | None = None,
    ) -> str:
        del container  # a Compose service runs one image: there is no container to choose
        replicas = self._existing(target)
        current = {image_id(c) for c in replicas}
        self._record_images(target, replicas)
        if image is None:
            previous = previous_image(self.memory.images(target), current)
            if previous is None:
                raise ExecutorError(
                    f"{self._describe(target)} has run no other image since it was first seen: "
                    "nothing to roll back to (name the image in the step)"
                )
            wanted, shown = previous.image_id, previous.reference
        else:
            wanted, shown = image, image
        with self._failures(target):
            try:
                wanted_id = str(self.client.images.get(wanted).id)
            except ImageNotFound:
                raise ExecutorError(f"image {shown} is not on the Docker host") from None
            changed = 0
            for old in replicas:
                if image_id(old) == wanted_id:
                    continue  # already there (an earlier run that died before its marker)
                self._replace(target, old, wanted_id)
                changed += 1
        self.memory.set_marker(target, marker, at)
        before = ", ".join(sorted({image_reference(c) for c in replicas}))
        return (
            f"rolled back {self._describe(target)} from {before} to {shown}"
            f" ({changed} container(s) replaced)"
        )

    def scale(self, target: WorkloadRef, replicas: int, marker: str, at: datetime) -> str:
        existing = self._existing(target)
        before = len(existing)
        with self._failures(target):
            if replicas > before:
                template = existing[-1]
                highest = max(number_of(c.labels) for c in existing)
                for number in range(highest + 1, highest + 1 + replicas - before):
                    self._clone(target, template, number)
            for surplus in reversed(existing[replicas:] if replicas < before else []):
                surplus.stop(timeout=STOP_SECONDS)
                surplus.remove()
        self.memory.set_marker(target, marker, at)
        return f"scaled {self._describe(target)} from {before} to {replicas} container(s)"

    def delete_pods(self, target: WorkloadRef, pods: list[str], marker: str, at: datetime) -> str:
        raise ExecutorError(
            "deletePods needs an orchestrator that replaces deleted pods: in Compose mode use "
            "rolloutRestart (it restarts the service's containers)"
        )

    def run_job(self, target: WorkloadRef, job: JobRequest, marker: str, at: datetime) -> str:
        replicas = self._existing(target)
        networks = list((replicas[0].attrs.get("NetworkSettings") or {}).get("Networks") or {})
        params = job.params
        deadline = time.time() + params.timeout.total_seconds()
        environment = {**job.env, **{v.name: v.value for v in params.env}}
        labels = {
            MANAGED_BY_LABEL: PRODUCT,
            INCIDENT_LABEL: job.incident,
            PROJECT_LABEL: target.namespace,
            DEADLINE_LABEL: str(int(deadline)),
        }
        with self._failures(target):
            try:
                existing = self.client.containers.get(job.name)
                self.memory.set_marker(target, marker, at)
                return (
                    f"found job container {job.name} ({existing.status}), started before a restart"
                )
            except NotFound:
                pass
            self._pull_if_missing(params.image)
            created = self.client.containers.create(
                params.image,
                command=[*params.args] or None,
                entrypoint=[*params.command] or None,
                environment=environment,
                labels=labels,
                name=job.name,
                network=networks[0] if networks else None,
            )
            created.start()
        self.memory.set_marker(target, marker, at)
        where = self._describe(target)
        return f"started job container {job.name} ({params.image}) on {where}'s network"

    def job_state(self, namespace: str, name: str) -> JobState:
        try:
            container = self.client.containers.get(name)
        except NotFound:
            return JobState(JobPhase.FAILED, f"job container {name} is gone")
        except DockerException as error:
            raise ExecutorError(f"Docker: {error}") from error
        state = container.attrs.get("State") or {}
        if state.get("Status") in ("created", "running", "restarting"):
            deadline = int(container.labels.get(DEADLINE_LABEL, "0") or 0)
            if deadline and time.time() > deadline:
                container.stop(timeout=STOP_SECONDS)
                return JobState(
                    JobPhase.FAILED, "stopped: its timeout passed", self._tail(container)
                )
            return JobState(JobPhase.RUNNING, f"container {state.get('Status')}")
        code = state.get("ExitCode")
        tail = self._tail(container)
        if code == 0:
            return JobState(JobPhase.SUCCEEDED, "exit code 0", tail)
        reason = (
            "killed for using too much memory" if state.get("OOMKilled") else f"exit code {code}"
        )
        return JobState(JobPhase.FAILED, reason, tail)

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        raise ExecutorError(
            f"secret {name}: Kubernetes Secrets do not exist in Compose mode; give the "
            "notification's address in the playbook instead"
        )

    # --- mechanics -------------------------------------------------------------------------

    def _existing(self, target: WorkloadRef) -> list[Container]:
        replicas = self.replicas(target)
        if not replicas:
            raise TargetNotFoundError(
                f"no container of Compose service {target.name} in project {target.namespace}"
            )
        return replicas

    def _replace(self, target: WorkloadRef, old: Container, image_id: str) -> None:
        """A copy of ``old`` running ``image_id`` takes its name (and its published ports, so
        ``old`` stops first). If the copy does not run (healthy, when it has a health check),
        it is removed and ``old`` is started again under its name."""
        name = name_of(old)
        aside = f"{name}-replaced"
        self._remove_if_present(aside)  # left by a run that died after replacing it
        arguments = copy_arguments(old.attrs, image_id, name, dict(old.labels))
        old.rename(aside)
        old.stop(timeout=STOP_SECONDS)
        try:
            created = self.client.api.create_container(**arguments)
            self.client.api.start(created["Id"])
            self._wait_ready(target, name)
        except (DockerException, ExecutorError):
            self._remove_if_present(name)
            old.rename(name)
            old.start()
            raise
        old.remove()

    def _clone(self, target: WorkloadRef, template: Container, number: int) -> None:
        labels = {**template.labels, NUMBER_LABEL: str(number)}
        name = f"{target.namespace}-{target.name}-{number}"
        arguments = copy_arguments(template.attrs, image_id(template), name, labels)
        arguments["host_config"] = {**arguments["host_config"], "PortBindings": None}
        created = self.client.api.create_container(**arguments)
        self.client.api.start(created["Id"])
        self._wait_ready(target, name)

    def _wait_ready(self, target: WorkloadRef, name: str) -> None:
        """Until the container has been ready for ``settle`` seconds in a row (a process that
        dies at start is "running" for a moment)."""
        deadline = self.clock() + self.start_wait
        ready_since: float | None = None
        while True:
            container = self.client.containers.get(name)
            if is_ready(container.attrs):
                ready_since = self.clock() if ready_since is None else ready_since
                if self.clock() - ready_since >= self.settle:
                    return
            else:
                ready_since = None
            state = container.attrs.get("State") or {}
            if state.get("Status") in ("exited", "dead"):
                raise ExecutorError(
                    f"container {name} of {self._describe(target)} stopped (exit code "
                    f"{state.get('ExitCode')}): {self._tail(container)[-300:]}"
                )
            if self.clock() > deadline:
                raise ExecutorError(
                    f"container {name} of {self._describe(target)} was not ready within"
                    f" {self.start_wait:.0f} s"
                )
            time.sleep(0.5)

    def _remove_if_present(self, name: str) -> None:
        with suppress(NotFound):
            self.client.containers.get(name).remove(force=True)

    def _pull_if_missing(self, image: str) -> None:
        try:
            self.client.images.get(image)
        except ImageNotFound:
            self.client.images.pull(image)

    @staticmethod
    def _tail(container: Container) -> str:
        try:
            return bytes(container.logs(tail=JOB_LOG_LINES)).decode("utf-8", "replace").strip()
        except DockerException:
            return ""

    @staticmethod
    def _describe(target: WorkloadRef) -> str:
        return f"Compose service {target.name} of project {target.namespace}"

    @staticmethod
    def _check_kind(target: WorkloadRef) -> None:
        if target.kind is not WorkloadKind.COMPOSE_SERVICE:
            raise ExecutorError(f"{target}: the Docker executor acts on Compose services only")

    @contextmanager
    def _failures(self, target: WorkloadRef) -> Iterator[None]:
        try:
            yield
        except (ExecutorError, TargetNotFoundError):
            raise
        except DockerException as error:
            raise ExecutorError(f"Docker, {self._describe(target)}: {error}") from error
