"""The real node's CoreDNS and local-path provisioner: cache layout and rendered configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devstack import nodebuild

KUBECONFIG = Path("/state/kube/coredns.kubeconfig")


def _corefile(**overrides: object) -> str:
    args: dict[str, object] = {
        "listen_ip": "10.96.0.10",
        "port": 53,
        "kubeconfig": KUBECONFIG,
        "health_port": 18080,
        "ready_port": 18181,
    }
    args.update(overrides)
    return nodebuild.corefile(**args)  # type: ignore[arg-type]


def test_binaries_live_in_version_keyed_cache_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGSENTINEL_CACHE_DIR", str(tmp_path))
    assert nodebuild.binary("coredns") == (
        tmp_path / f"coredns-{nodebuild.COREDNS_VERSION}" / "bin" / "coredns"
    )
    assert nodebuild.binary("local-path-provisioner") == (
        tmp_path
        / f"local-path-provisioner-{nodebuild.LOCAL_PATH_VERSION}"
        / "bin"
        / "local-path-provisioner"
    )


def test_unknown_binary_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="coredns"):
        nodebuild.binary("kube-dns")


def test_corefile_serves_cluster_and_reverse_zones_from_the_api() -> None:
    text = _corefile()
    assert text.startswith(".:53 {\n")
    assert "    bind 10.96.0.10\n" in text
    kubernetes = re.search(r"kubernetes (.*) \{\n(.*?)\n    \}", text, re.DOTALL)
    assert kubernetes is not None
    assert kubernetes.group(1).split() == ["cluster.local", "in-addr.arpa", "ip6.arpa"]
    options = [line.strip() for line in kubernetes.group(2).splitlines()]
    assert f'kubeconfig "{KUBECONFIG}"' in options
    assert "pods insecure" in options
    assert "fallthrough in-addr.arpa ip6.arpa" in options


def test_corefile_probes_on_loopback_and_forwards_the_rest() -> None:
    lines = [line.strip() for line in _corefile().splitlines()]
    assert "health 127.0.0.1:18080" in lines
    assert "ready 127.0.0.1:18181" in lines
    assert "forward . /etc/resolv.conf" in lines
    for plugin in ("errors", "loop", "cache 30"):
        assert plugin in lines


def test_corefile_braces_balance() -> None:
    text = _corefile(cluster_domain="example.internal")
    assert text.count("{") == text.count("}") == 2
    assert "kubernetes example.internal in-addr.arpa ip6.arpa {" in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listen_ip": "dns.local"}, "listen_ip"),
        ({"port": 0}, "port"),
        ({"health_port": 70000}, "health_port"),
        ({"ready_port": 18080}, "must differ"),
        ({"cluster_domain": "Cluster.Local"}, "cluster_domain"),
        ({"cluster_domain": "-bad.local"}, "cluster_domain"),
        ({"kubeconfig": Path("relative/kubeconfig")}, "absolute"),
        ({"kubeconfig": Path('/odd/"quoted"')}, "Corefile"),
    ],
)
def test_corefile_rejects_bad_input(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _corefile(**overrides)


def test_local_path_config_sends_every_node_to_one_directory() -> None:
    config = nodebuild.local_path_config(Path("/var/lib/volumes"))
    assert config == {
        "nodePathMap": [
            {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["/var/lib/volumes"]}
        ]
    }


@pytest.mark.parametrize("path", [Path("volumes"), Path("/")])
def test_local_path_config_needs_an_absolute_directory(path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        nodebuild.local_path_config(path)


def test_helper_pod_never_pulls_its_image() -> None:
    pod = nodebuild.helper_pod_template("localhost/logsentinel/helper:1")
    assert pod["kind"] == "Pod"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "localhost/logsentinel/helper:1"
    assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize("image", ["", "two words"])
def test_helper_pod_rejects_bad_images(image: str) -> None:
    with pytest.raises(ValueError, match="image"):
        nodebuild.helper_pod_template(image)


def test_scripts_create_and_remove_the_volume_directory() -> None:
    setup, teardown = nodebuild.setup_script(), nodebuild.teardown_script()
    assert setup.startswith("#!/bin/sh\n")
    assert teardown.startswith("#!/bin/sh\n")
    assert 'mkdir -m 0777 -p "$VOL_DIR"' in setup
    assert 'rm -rf "$VOL_DIR"' in teardown


def test_configmap_holds_what_the_provisioner_reads() -> None:
    configmap = nodebuild.local_path_configmap("local-path-storage", Path("/srv/pv"), "helper:1")
    assert configmap["metadata"] == {"name": "local-path-config", "namespace": "local-path-storage"}
    data = configmap["data"]
    assert set(data) == {"config.json", "helperPod.yaml", "setup", "teardown"}
    assert json.loads(data["config.json"]) == nodebuild.local_path_config(Path("/srv/pv"))
    assert json.loads(data["helperPod.yaml"]) == nodebuild.helper_pod_template("helper:1")
    assert all(isinstance(value, str) for value in data.values())


def test_storage_class_waits_for_a_node_and_can_be_the_default() -> None:
    default = nodebuild.storage_class()
    assert default["provisioner"] == nodebuild.LOCAL_PATH_PROVISIONER_NAME
    assert default["volumeBindingMode"] == "WaitForFirstConsumer"
    assert default["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true"
    }
    assert nodebuild.storage_class("slow", default=False)["metadata"] == {
        "name": "slow",
        "annotations": {},
    }
