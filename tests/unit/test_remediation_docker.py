"""The Docker executor's pure parts: which containers are a service's replicas, when one is
ready, which image a rollback goes back to, and how a container is copied with another image."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.remediation.docker import (
    NUMBER_LABEL,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    copy_arguments,
    is_ready,
    is_replica,
    number_of,
    previous_image,
)

TARGET = WorkloadRef(kind=WorkloadKind.COMPOSE_SERVICE, namespace="shop", name="payment")
T0 = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Seen:
    reference: str
    image_id: str
    first_seen: datetime


def test_replicas_are_the_services_containers_but_not_one_offs() -> None:
    labels = {PROJECT_LABEL: "shop", SERVICE_LABEL: "payment", NUMBER_LABEL: "2"}
    assert is_replica(labels, TARGET)
    assert number_of(labels) == 2
    assert not is_replica({**labels, ONEOFF_LABEL: "True"}, TARGET), "`compose run` containers"
    assert not is_replica({**labels, PROJECT_LABEL: "other"}, TARGET)
    assert number_of({NUMBER_LABEL: "x"}) == 0


def test_ready_means_running_and_healthy_when_checked() -> None:
    assert is_ready({"State": {"Status": "running"}})
    assert is_ready({"State": {"Status": "running", "Health": {"Status": "healthy"}}})
    assert not is_ready({"State": {"Status": "running", "Health": {"Status": "starting"}}})
    assert not is_ready({"State": {"Status": "exited"}})


def test_a_rollback_goes_to_the_newest_image_before_the_current_one() -> None:
    seen = [
        Seen("app:1", "sha256:1", T0),
        Seen("app:2", "sha256:2", T0 + timedelta(days=1)),
        Seen("app:3", "sha256:3", T0 + timedelta(days=2)),
    ]
    chosen = previous_image(seen, {"sha256:3"})
    assert chosen is not None
    assert chosen.reference == "app:2"
    assert previous_image(seen[:1], {"sha256:1"}) is None, "nothing ran before"


def test_a_copy_keeps_the_containers_configuration_with_the_new_image() -> None:
    attrs = {
        "Config": {
            "Cmd": ["serve"],
            "Entrypoint": ["python3", "app.py"],
            "Env": ["MODE=live"],
            "User": "10001",
            "WorkingDir": "",
            "ExposedPorts": {"8080/tcp": {}},
            "Healthcheck": {"Test": ["CMD-SHELL", "true"]},
        },
        "HostConfig": {
            "RestartPolicy": {"Name": "unless-stopped"},
            "Ulimits": [{"Name": "RLIMIT_NOFILE", "Soft": 20000, "Hard": 20000}],
        },
        "NetworkSettings": {"Networks": {"shop_default": {"Aliases": ["payment", ""]}}},
    }
    copied = copy_arguments(attrs, "sha256:1", "shop-payment-1", {SERVICE_LABEL: "payment"})
    assert copied["image"] == "sha256:1"
    assert copied["name"] == "shop-payment-1"
    assert (copied["command"], copied["entrypoint"]) == (["serve"], ["python3", "app.py"])
    assert copied["environment"] == ["MODE=live"]
    assert copied["working_dir"] is None
    assert copied["ports"] == ["8080/tcp"]
    assert copied["host_config"]["RestartPolicy"] == {"Name": "unless-stopped"}
    assert copied["host_config"]["Ulimits"] == [{"Name": "nofile", "Soft": 20000, "Hard": 20000}]
    assert copied["networking_config"] == {
        "EndpointsConfig": {"shop_default": {"Aliases": ["payment"]}}
    }
