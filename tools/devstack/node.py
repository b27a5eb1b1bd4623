"""The real node: containerd + runc, a kubelet, kube-proxy, cluster DNS and a volume provisioner,
joined to the devstack control plane beside the kwok Nodes.

Processes (each with a log and pid file in ``.stack/node/``):
- ``containerd`` (Debian) with the CRI plugin, runc, and Debian's CNI plugins on the pod bridge
  (``podnet``); images come only from ``ctr images import`` (nothing is pulled);
- ``kubelet`` and ``kube-proxy`` (iptables mode) from the pinned Kubernetes build;
- ``coredns`` on the bridge gateway, port 53, answering ``*.cluster.local`` from the apiserver;
- ``local-path-provisioner``, the StorageClass ``local-path`` (the default class), which makes
  a directory under ``.stack/node/volumes`` per PersistentVolumeClaim.

The Node is ``devstack-node``, labelled ``type=real``. Stopping kills every container (pods come
back when the node starts again: the kubelet re-creates them from the apiserver) and unmounts
what the kubelet and containerd mounted, so ``.stack/`` can be removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from devstack import images, kubebuild, log, nodebuild, podnet
from devstack.component import Component
from devstack.errors import MissingPrerequisite, StackError
from devstack.kube import REAL_NODE, Kube
from devstack.proc import Daemon, load_json, preferred_port, require_tool, save_json, wait_until

NODE_VAR = "LOGSENTINEL_REAL_NODE"
PROCESSES = ("containerd", "kubelet", "kube-proxy", "coredns", "local-path-provisioner")
PORTS = ("kubelet", "kubelet_healthz", "proxy_healthz", "proxy_metrics", "dns_health", "dns_ready")
CLUSTER_DOMAIN = "cluster.local"
NODE_LABELS = {"type": "real", "node.logsentinel.io/real": "true"}
STORAGE_CLASS = "local-path"
PROVISIONER_NAMESPACE = "local-path-storage"
# Debian's packages that the node runs (the binaries are looked up on PATH).
DEBIAN_TOOLS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "conntrack": "conntrack",
}
CNI_DIR = Path("/usr/lib/cni")


class Node(Component):
    """The real node, managed as one component (it needs the ``kube`` component running)."""

    name = "node"
    external_var = NODE_VAR
    requires = ("kube",)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.kube = Kube()

    # -- layout --------------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        """Sockets and runtime state: short paths (a Unix socket path has at most 107 bytes)."""
        key = hashlib.sha256(str(self.state.resolve()).encode()).hexdigest()[:12]
        return Path("/run/logsentinel") / f"node-{key}"

    @property
    def containerd_socket(self) -> Path:
        """The CRI endpoint."""
        return self.run_dir / "containerd.sock"

    def daemon(self, process: str) -> Daemon:
        """One of the node's processes."""
        return Daemon(process, self.state)

    def daemons(self) -> list[Daemon]:
        """containerd, kubelet, kube-proxy, coredns and the provisioner."""
        return [self.daemon(process) for process in PROCESSES]

    def address(self) -> str:
        """The Node's name."""
        return REAL_NODE

    def exports(self) -> dict[str, str]:
        """The real node's name when it runs (tests pin real pods to it)."""
        if self.external():
            return {NODE_VAR: self.external() or ""}
        return {NODE_VAR: REAL_NODE} if self.running() else {}

    # -- build ---------------------------------------------------------------------------------

    def build(self) -> None:
        """Check the Debian tools; build kubelet, kube-proxy, CoreDNS, the provisioner and the
        images the node runs: pause, logsentinel, the otelcol agent and the sample app (all
        cached)."""
        reason = podnet.unavailable_reason()
        if reason is not None and not podnet.bridge_exists():
            raise MissingPrerequisite(f"the real node cannot run here: {reason}")
        for tool, package in DEBIAN_TOOLS.items():
            require_tool(tool, "by the real node", f"apt-get install {package}")
        for plugin in ("bridge", "host-local", "loopback", "portmap"):
            if not (CNI_DIR / plugin).is_file():
                raise MissingPrerequisite(
                    f"no CNI plugin {CNI_DIR / plugin}: apt-get install containernetworking-plugins"
                )
        kubebuild.build_kubernetes()
        nodebuild.build_all()
        images.build_all(list(images.NODE_IMAGES))

    # -- health --------------------------------------------------------------------------------

    def node_ready(self) -> bool:
        """The Node object reports Ready."""
        status, text = self.kube.api().request("GET", f"/api/v1/nodes/{REAL_NODE}")
        if status != 200:
            return False
        conditions = json.loads(text).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def running(self) -> bool:
        """Every process is alive and the Node is Ready."""
        if load_json(self.state / "state.json") is None:
            return False
        if not all(self.daemon(process).alive() for process in PROCESSES):
            return False
        try:
            return self.node_ready()
        except Exception:
            return False

    # -- start ---------------------------------------------------------------------------------

    def _pick_ports(self) -> dict[str, int]:
        previous = load_json(self.state / "ports.json") or {}
        chosen: dict[str, int] = {}
        for key in PORTS:
            chosen[key] = preferred_port(previous.get(key), taken=tuple(chosen.values()))
        save_json(self.state / "ports.json", chosen)
        return chosen

    def _start(self) -> None:
        if not self.kube.running():
            raise StackError("the real node needs the control plane: start `kube` first")
        gateway = podnet.ensure_bridge()
        ports = self._pick_ports()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._start_containerd()
        self.import_images(
            [
                images.PAUSE_TAGS[0],
                images.logsentinel_tag(),
                images.otelcol_tag(),
                *images.sample_app_tags(),
            ]
        )
        self._start_kubelet(gateway, ports)
        self._start_kube_proxy(ports)
        self._start_coredns(gateway, ports)
        self._start_provisioner()
        save_json(self.state / "state.json", {"node": REAL_NODE, "ports": ports})
        kubelet = self.daemon("kubelet")
        wait_until(
            f"Node {REAL_NODE} Ready", self.node_ready, 120,
            failure=kubelet.fail, alive=kubelet.alive,
        )  # fmt: skip

    def _start_containerd(self) -> None:
        config = self.state / "containerd.toml"
        config.write_text(containerd_config(self.state, self.run_dir))
        cni = self.state / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-lsnode.conflist").write_text(json.dumps(cni_conflist(self.state), indent=2))
        containerd = self.daemon("containerd")
        containerd.start([require_tool("containerd", "", ""), "--config", str(config)])
        wait_until(
            "containerd answers", lambda: self._ctr("version").returncode == 0, 60,
            failure=containerd.fail, alive=containerd.alive,
        )  # fmt: skip

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def import_images(self, tags: list[str]) -> None:
        """Load images from the local image store (podman) into the node's containerd; an
        image imported before with the same ID is skipped."""
        record = self.state / "imported.json"
        imported = load_json(record) or {}
        have = set(self._ctr("images", "list", "--quiet").stdout.split())
        for tag in tags:
            image_id = images.image_id(tag)
            if tag in have and imported.get(tag) == image_id:
                continue
            started = time.monotonic()
            archive = images.oci_archive(tag)
            if tag in have:
                # Re-pointing a tag lets containerd's garbage collector delete the old image's
                # layer snapshots while the import still counts on them as parents ("parent
                # snapshot ... does not exist"): remove the old image and wait for the GC first.
                self._ctr("images", "rm", "--sync", tag)
            done = self._ctr("images", "import", str(archive))
            if done.returncode != 0:
                raise StackError(f"ctr images import {archive} ({tag}) failed: {done.stderr}")
            imported[tag] = image_id
            save_json(record, imported)
            log.info("image-imported", image=tag, seconds=f"{time.monotonic() - started:.1f}")

    def _start_kubelet(self, gateway: str, ports: dict[str, int]) -> None:
        config = self.state / "kubelet.yaml"
        config.write_text(
            json.dumps(
                kubelet_config(gateway, ports, self.kube.pki / "ca.crt", self.containerd_socket),
                indent=2,
            )
        )
        labels = ",".join(f"{key}={value}" for key, value in NODE_LABELS.items())
        kubelet = self.daemon("kubelet")
        kubelet.start(
            [
                str(kubebuild.binary("kubelet")), f"--config={config}",
                f"--kubeconfig={self.kube.kubeconfig_of('kubelet')}",
                f"--root-dir={self.state / 'kubelet'}", f"--cert-dir={self.state / 'kubelet-pki'}",
                f"--hostname-override={REAL_NODE}", f"--node-ip={gateway}",
                f"--node-labels={labels}", "--v=1",
            ]
        )  # fmt: skip
        wait_until(
            "kubelet /healthz",
            lambda: _http_ok(ports["kubelet_healthz"], "/healthz"),
            60,
            failure=kubelet.fail,
            alive=kubelet.alive,
        )

    def _start_kube_proxy(self, ports: dict[str, int]) -> None:
        config = self.state / "kube-proxy.yaml"
        config.write_text(json.dumps(kube_proxy_config(self.kube, ports), indent=2))
        proxy = self.daemon("kube-proxy")
        proxy.start(
            [str(kubebuild.binary("kube-proxy")), f"--config={config}", "--v=1"],
            env={**os.environ, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        )
        wait_until(
            "kube-proxy /healthz",
            lambda: _http_ok(ports["proxy_healthz"], "/healthz"),
            60,
            failure=proxy.fail,
            alive=proxy.alive,
        )

    def _start_coredns(self, gateway: str, ports: dict[str, int]) -> None:
        corefile = self.state / "Corefile"
        corefile.write_text(
            nodebuild.corefile(
                gateway,
                53,
                self.kube.kubeconfig,
                cluster_domain=CLUSTER_DOMAIN,
                health_port=ports["dns_health"],
                ready_port=ports["dns_ready"],
            )
        )
        dns = self.daemon("coredns")
        dns.start([str(nodebuild.binary("coredns")), "-conf", str(corefile)])
        wait_until(
            "coredns /ready", lambda: _http_ok(ports["dns_ready"], "/ready"), 60,
            failure=dns.fail, alive=dns.alive,
        )  # fmt: skip

    def _start_provisioner(self) -> None:
        """The provisioner's namespace, ServiceAccount, ConfigMap and the default StorageClass,
        then the provisioner itself (out of cluster, with the admin kubeconfig)."""
        api = self.kube.api()
        namespace = PROVISIONER_NAMESPACE
        volumes = self.state / "volumes"
        volumes.mkdir(exist_ok=True)
        configmap = nodebuild.local_path_configmap(namespace, volumes, images.logsentinel_tag())
        api.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
        api.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": namespace}}
        )
        api.apply(f"/api/v1/namespaces/{namespace}/configmaps", configmap)
        api.apply("/apis/storage.k8s.io/v1/storageclasses", nodebuild.storage_class(STORAGE_CLASS))
        files = self.state / "local-path"
        files.mkdir(exist_ok=True)
        for key in ("config.json", "helperPod.yaml"):
            (files / key).write_text(configmap["data"][key])
        provisioner = self.daemon("local-path-provisioner")
        provisioner.start(
            [
                str(nodebuild.binary("local-path-provisioner")), "start",
                f"--kubeconfig={self.kube.kubeconfig}", f"--namespace={namespace}",
                f"--configmap-name={nodebuild.LOCAL_PATH_CONFIGMAP}",
                f"--provisioner-name={nodebuild.LOCAL_PATH_PROVISIONER_NAME}",
                f"--config={files / 'config.json'}",
                f"--helper-pod-file={files / 'helperPod.yaml'}",
                f"--service-account-name={namespace}",
            ]
        )  # fmt: skip

    # -- stop ----------------------------------------------------------------------------------

    def _stop(self) -> None:
        """Stop the services, kill every container, stop containerd and undo mounts."""
        for process in ("local-path-provisioner", "coredns", "kube-proxy", "kubelet"):
            self.daemon(process).stop()
        self._kill_containers()
        self.daemon("containerd").stop()
        self._kill_shims()
        _unmount_below(self.state)
        _unmount_below(self.run_dir)
        (self.state / "state.json").unlink(missing_ok=True)

    def _kill_containers(self) -> None:
        runc_root = self.run_dir / "runc" / "k8s.io"
        if not runc_root.is_dir():
            return
        listed = subprocess.run(
            ["runc", "--root", str(runc_root), "list", "--quiet"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        for container in listed.stdout.split():
            subprocess.run(["runc", "--root", str(runc_root), "kill", container, "KILL"],
                           capture_output=True, check=False)  # fmt: skip
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", container],
                           capture_output=True, check=False)  # fmt: skip

    def _kill_shims(self) -> None:
        """containerd's shims outlive it; they belong to this node when their command line
        names our containerd socket."""
        address = str(self.containerd_socket).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and address in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)


def _unmount_below(directory: Path) -> None:
    """Unmount everything mounted under ``directory`` (deepest first)."""
    prefix = str(directory.resolve()) + "/"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point.startswith(prefix):
            mounts.append(mount_point)
    for mount_point in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount_point], capture_output=True, check=False)


def _http_ok(port: int, path: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
        return int(resp.status) == 200


# -- configuration files (pure) --------------------------------------------------------------


def containerd_config(state: Path, run_dir: Path) -> str:
    """containerd's config.toml: CRI with runc and cgroupfs, our CNI, the local pause image."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{state / "containerd"}"
state = "{run_dir / "containerd"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{run_dir / "containerd.sock"}"

[ttrpc]
  address = "{run_dir / "containerd.sock.ttrpc"}"

[{cri}]
  sandbox_image = "{images.PAUSE_TAGS[0]}"
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  enable_cdi = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{run_dir / "runc"}"

[{cri}.cni]
  bin_dir = "{CNI_DIR}"
  conf_dir = "{state / "cni"}"
  max_conf_num = 1
"""


def cni_conflist(state: Path) -> dict[str, Any]:
    """The pod network: Debian's bridge + host-local on ``podnet``'s bridge, and portmap."""
    return {
        "cniVersion": "1.0.0",
        "name": "lsnode",
        "plugins": [
            {
                "type": "bridge",
                "bridge": podnet.BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(podnet.POD_SUBNET), "gateway": podnet.GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(state / "cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    gateway: str, ports: dict[str, int], client_ca: Path, runtime_socket: Path
) -> dict[str, Any]:
    """KubeletConfiguration for this machine (cgroup v1 hybrid layout, cgroupfs, no swap rule)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": gateway,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet_healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [gateway],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": "/etc/resolv.conf",
        "serializeImagePulls": False,
        "maxPods": 110,
        # A development disk is often nearly full: evict only when it really is.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "nodeStatusReportFrequency": "10s",
        "volumeStatsAggPeriod": "0s",
    }


def kube_proxy_config(kube: Kube, ports: dict[str, int]) -> dict[str, Any]:
    """KubeProxyConfiguration: iptables mode, no conntrack sysctl changes (not allowed here)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kube.kubeconfig_of("kube-proxy"))},
        "hostnameOverride": REAL_NODE,
        "mode": "iptables",
        "clusterCIDR": str(podnet.POD_SUBNET),
        "healthzBindAddress": f"127.0.0.1:{ports['proxy_healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['proxy_metrics']}",
        "nodePortAddresses": [f"{podnet.GATEWAY}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False},
    }
