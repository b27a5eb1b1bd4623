"""A Docker engine as the Compose tests drive it: containers started with the labels Compose
gives a service's replicas, in a project of the test's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
from docker.models.containers import Container

from logsentinel.domain.common import WorkloadRef
from logsentinel.remediation.docker import NUMBER_LABEL, ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

SERVICE = "payment"


@dataclass
class Engine:
    client: docker.DockerClient
    docker_host: str
    project: str
    good: str
    bad: str
    target: WorkloadRef

    def start(self, image: str, number: int = 1, **extra: Any) -> Container:
        """A replica of the service as Compose would label it."""
        labels = {
            PROJECT_LABEL: self.project,
            SERVICE_LABEL: SERVICE,
            NUMBER_LABEL: str(number),
            ONEOFF_LABEL: "False",
        }
        return self.client.containers.run(
            image,
            name=f"{self.project}-{SERVICE}-{number}",
            labels=labels,
            environment={"LINES_PER_SECOND": "1"},
            detach=True,
            **extra,
        )

    def images_running(self) -> list[str]:
        found = self.client.containers.list(filters={"label": f"{PROJECT_LABEL}={self.project}"})
        return sorted(str(c.attrs["Config"]["Image"]) for c in found if c.labels.get(SERVICE_LABEL))
