"""CoreDNS and the local-path provisioner for the real Kubernetes node: their builds and configs.

The real node needs cluster DNS (CoreDNS with its ``kubernetes`` plugin, so pods resolve
``<service>.<namespace>.svc.cluster.local``) and a default StorageClass (Rancher's local-path
provisioner, which creates hostPath volumes in a directory of the node). Both run outside the
cluster as host processes with a kubeconfig, like the control plane.

Both are built from the Go module proxy with ``go install`` into version-keyed cache
directories: their go.mod files have no ``replace`` directives, which is checked before building
(the wrapper-module approach of ``kubebuild`` would be needed otherwise).

The pure functions below render what the two programs read: a Corefile, and the provisioner's
``config.json``, helper Pod template, ``setup``/``teardown`` scripts, the ConfigMap holding them
and the StorageClass that points at the provisioner.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from pathlib import Path
from typing import Any

from devstack import gobuild, log, paths

COREDNS_VERSION = "v1.14.7"
LOCAL_PATH_VERSION = "v0.0.33"

_COREDNS_MODULE = "github.com/coredns/coredns"
_LOCAL_PATH_MODULE = "github.com/rancher/local-path-provisioner"

LOCAL_PATH_PROVISIONER_NAME = "rancher.io/local-path"
LOCAL_PATH_CONFIGMAP = "local-path-config"
# The provisioner uses this node name for "every node not listed explicitly".
_ANY_NODE = "DEFAULT_PATH_FOR_NON_LISTED_NODES"
_DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


def coredns_dir() -> Path:
    """Cache directory of the CoreDNS build."""
    return paths.cache_dir("coredns", COREDNS_VERSION)


def local_path_dir() -> Path:
    """Cache directory of the local-path provisioner build."""
    return paths.cache_dir("local-path-provisioner", LOCAL_PATH_VERSION)


def binary(name: str) -> Path:
    """Path of a built binary: ``coredns`` or ``local-path-provisioner``."""
    directories = {"coredns": coredns_dir, "local-path-provisioner": local_path_dir}
    if name not in directories:
        raise ValueError(f"unknown node binary {name!r}; expected one of {sorted(directories)}")
    return directories[name]() / "bin" / name


def _install_module_root(name: str, module: str, version: str, target: Path, ldflags: str) -> None:
    """``go install module@version`` (its root is the main package) into ``target/bin``, once
    per version, after checking that its go.mod allows it and the local Go is new enough."""
    if gobuild.is_complete(target, [name]):
        return
    started = time.monotonic()
    log.info("build", component=name, version=version, cache=target)
    build_log = target / "build.log"
    gobuild.require_plain_module(module, version, build_log)
    gobuild.install_tool(
        module, version, bin_dir=target / "bin", ldflags=ldflags, log_file=build_log
    )
    gobuild.mark_complete(target, started, version=version)


def build_coredns() -> None:
    """Build ``coredns`` with its default plugin set (kubernetes, forward, cache, ...)."""
    _install_module_root("coredns", _COREDNS_MODULE, COREDNS_VERSION, coredns_dir(), "-s -w")


def build_local_path_provisioner() -> None:
    """Build ``local-path-provisioner``, stamped with its version."""
    _install_module_root(
        "local-path-provisioner",
        _LOCAL_PATH_MODULE,
        LOCAL_PATH_VERSION,
        local_path_dir(),
        f"-s -w -X main.VERSION={LOCAL_PATH_VERSION}",
    )


def build_all() -> None:
    """Everything the real node needs beyond the Kubernetes build: CoreDNS and local-path."""
    build_coredns()
    build_local_path_provisioner()


def _check_port(what: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ValueError(f"{what} must be a TCP/UDP port (1-65535), got {port}")


def corefile(
    listen_ip: str,
    port: int,
    kubeconfig: Path,
    *,
    health_port: int,
    ready_port: int,
    cluster_domain: str = "cluster.local",
) -> str:
    """Corefile for the node's cluster DNS: ``cluster_domain`` and the reverse zones from the
    Kubernetes API (through ``kubeconfig``), everything else forwarded to the host's resolvers.

    DNS is served on ``listen_ip:port`` only; ``/health`` and ``/ready`` on 127.0.0.1 ports.
    """
    try:
        ipaddress.ip_address(listen_ip)
    except ValueError:
        raise ValueError(f"listen_ip must be an IP address, got {listen_ip!r}") from None
    for what, number in (("port", port), ("health_port", health_port), ("ready_port", ready_port)):
        _check_port(what, number)
    if health_port == ready_port:
        raise ValueError(f"health_port and ready_port must differ (both {health_port})")
    if not _DNS_NAME.match(cluster_domain):
        raise ValueError(f"cluster_domain must be a lower-case DNS name, got {cluster_domain!r}")
    if not kubeconfig.is_absolute():
        raise ValueError(
            f"kubeconfig must be an absolute path (CoreDNS may run elsewhere): {kubeconfig}"
        )
    if any(c in str(kubeconfig) for c in '"\n{}'):
        raise ValueError(f"kubeconfig path cannot be written into a Corefile: {kubeconfig}")
    # pods insecure: answer a-b-c-d.<ns>.pod.<domain> without watching pods (what kubeadm does).
    return f"""\
.:{port} {{
    bind {listen_ip}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {cluster_domain} in-addr.arpa ip6.arpa {{
        kubeconfig "{kubeconfig}"
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}}
"""


def local_path_config(node_path: Path) -> dict[str, Any]:
    """The provisioner's ``config.json``: volumes of every node go under ``node_path``."""
    if not node_path.is_absolute() or node_path == Path("/"):
        raise ValueError(f"node_path must be an absolute directory other than /: {node_path}")
    return {"nodePathMap": [{"node": _ANY_NODE, "paths": [str(node_path)]}]}


def helper_pod_template(image: str) -> dict[str, Any]:
    """The Pod the provisioner copies to run ``setup``/``teardown`` on the volume's node; it
    adds the command, the volume directory mount, the node name and the service account.

    ``image`` needs ``/bin/sh``, ``mkdir`` and ``rm``, and must already be on the node: it is
    never pulled.
    """
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"helper image must be an image reference without spaces, got {image!r}")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            # lets teardown free space on a node that is already short of it
            "tolerations": [
                {
                    "key": "node.kubernetes.io/disk-pressure",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ],
            "containers": [
                {
                    "name": "helper-pod",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    # the volume directory belongs to root on the node, whatever the image's user
                    "securityContext": {"runAsUser": 0, "runAsGroup": 0},
                }
            ],
        },
    }


def setup_script() -> str:
    """Creates the volume directory; the provisioner passes it as ``$VOL_DIR``."""
    return '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n'


def teardown_script() -> str:
    """Deletes the volume directory (``$VOL_DIR``) once its PersistentVolume is released."""
    return '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n'


def local_path_configmap(namespace: str, node_path: Path, helper_image: str) -> dict[str, Any]:
    """The ConfigMap the provisioner needs in its ``--namespace``: helper Pods mount its
    ``setup`` and ``teardown`` keys as scripts, and without ``--config``/``--helper-pod-file``
    the provisioner reads ``config.json`` and ``helperPod.yaml`` from it at start."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": LOCAL_PATH_CONFIGMAP, "namespace": namespace},
        "data": {
            "config.json": json.dumps(local_path_config(node_path), indent=2),
            # JSON is YAML; the provisioner parses this key with a YAML decoder.
            "helperPod.yaml": json.dumps(helper_pod_template(helper_image), indent=2),
            "setup": setup_script(),
            "teardown": teardown_script(),
        },
    }


def storage_class(name: str = "local-path", *, default: bool = True) -> dict[str, Any]:
    """StorageClass served by the provisioner. Binding waits for the first consumer because
    the provisioner refuses claims that have no node selected yet."""
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": LOCAL_PATH_PROVISIONER_NAME,
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",
    }
