"""devstack's Compose tooling without an engine: the Podman override file it writes, and the
paths that docker-compose.yml, compose/collector.yaml and devstack must agree on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devstack import compose, images, paths

COLLECTED = {"driver": "json-file", "options": {"labels": "com.docker.compose.project,com.docker.compose.service"}}  # fmt: skip
CONFIG: dict[str, Any] = {
    "services": {
        "api": {"logging": COLLECTED},
        "kafka": {"logging": COLLECTED, "volumes": [{"target": "/var/lib/kafka/data"}]},
        "collector": {
            "volumes": [{"type": "bind", "source": "/srv/logs", "target": compose.DOCKER_LOG_MOUNT}]
        },
        "other": {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}},
    }
}


class OverrideLoader(yaml.SafeLoader):
    """Reads Compose's ``!override`` tag as the plain mapping it marks."""


OverrideLoader.add_constructor(
    "!override",
    lambda loader, node: loader.construct_mapping(node, deep=True),  # type: ignore[arg-type]
)


def test_the_collected_services_are_those_with_the_compose_labels() -> None:
    assert compose.collected_services(CONFIG) == ["api", "kafka"]
    assert compose.collector_services(CONFIG) == ["collector"]


def test_the_podman_override_sends_each_collected_service_to_its_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "demo"
    text = compose.podman_override(CONFIG, "demo", logs)
    assert "logging: !override" in text
    services = yaml.load(text, Loader=OverrideLoader)["services"]
    assert services["api"]["logging"] == {
        "driver": "json-file",
        "options": {"path": str(logs / "api.log")},
    }
    assert services["kafka"]["logging"]["options"] == {"path": str(logs / "kafka.log")}
    assert "other" not in services
    assert services["collector"]["volumes"] == [
        {"type": "bind", "source": str(logs.parent), "target": compose.LOG_MOUNT, "read_only": True}
    ]


def test_the_collector_reads_where_the_compose_file_and_devstack_put_the_logs() -> None:
    collector = yaml.safe_load((paths.REPO_ROOT / "compose" / "collector.yaml").read_text())
    include = collector["receivers"]["file_log"]["include"]
    assert f"{compose.DOCKER_LOG_MOUNT}/*/*-json.log" in include
    assert f"{compose.LOG_MOUNT}/*/*.log" in include
    regexes = [op.get("regex", "") for op in collector["receivers"]["file_log"]["operators"]]
    assert any(regex.startswith(f"^{compose.LOG_MOUNT}/") for regex in regexes)
    file = yaml.safe_load(compose.COMPOSE_FILE.read_text())
    mounts = file["services"]["collector"]["volumes"]
    assert any(mount.endswith(f":{compose.DOCKER_LOG_MOUNT}:ro") for mount in mounts)
    labels = file["x-collected-logging"]["options"]["labels"].split(",")
    assert compose.COLLECTED_LABEL in labels


def test_every_product_service_but_the_collector_is_collected() -> None:
    file = yaml.safe_load(compose.COMPOSE_FILE.read_text())
    collected = compose.collected_services(file)
    assert collected == sorted(set(file["services"]) - {"collector"})


def test_jar_files_name_their_artifact() -> None:
    assert images._artifact("jetty-util-9.4.57.v20241219.jar") == "jetty-util"
    assert images._artifact("zstd-jni-1.5.6-4.jar") == "zstd-jni"
    assert images._artifact("kafka_2.13-3.9.1.jar") == "kafka_2.13"
    assert images._artifact("javassist-3.29.0-GA.jar") == "javassist"
