"""A Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok simulating two Nodes' kubelets (so pods scheduled there become Running/Ready with no
container). The real node (see ``node``) joins this control plane.

Everything listens on loopback, except the apiserver, which listens on the pod bridge's gateway
when the machine has one (pods on the real node reach it there, through the ``kubernetes``
Service). The kwok Nodes carry the taint ``kwok.x-k8s.io/node=fake:NoSchedule``: ordinary pods
go to the real node; a namespace annotated with ``KWOK_PLACEMENT`` sends its pods to kwok.

All binaries come from the version-keyed build cache (see ``kubebuild``). State lives under
``.stack/kube/``: ``pki/`` (CA, serving and client certificates), one log and pid file per
process, ``etcd-data/``, and kubeconfigs (``admin.kubeconfig`` is what users and tests get).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from devstack import kubebuild, log, pki, podnet
from devstack.component import Component
from devstack.errors import StackError
from devstack.kubeapi import KubeAPI
from devstack.proc import Daemon, load_json, preferred_port, save_json, wait_until

KUBECONFIG_VAR = "KUBECONFIG"
NODE_COUNT = 2
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
# A reserved documentation address (RFC 5737): kube-apiserver refuses a loopback advertise
# address; with the endpoint reconciler off it is never published nor contacted.
ADVERTISE_ADDRESS = "192.0.2.1"
CLIENTS = ("admin", "kube-controller-manager", "kube-scheduler", "kwok")
REAL_NODE = "devstack-node"
# Client certificates of the real node's components (file name -> subject): the Node authorizer
# and the bootstrap RBAC bindings know these names.
NODE_IDENTITIES = {
    "kubelet": f"/O=system:nodes/CN=system:node:{REAL_NODE}",
    "kube-proxy": "/CN=system:kube-proxy",
    "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
}
KUBERNETES_SERVICE_IP = "10.96.0.1"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
# What a pod needs to run on the kwok Nodes (and only there): their label and their taint.
KWOK_NODE_SELECTOR = {"type": "kwok"}
KWOK_LABEL_SELECTOR = ",".join(f"{key}={value}" for key, value in KWOK_NODE_SELECTOR.items())
KWOK_TOLERATION = {"key": KWOK_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}
# Namespace annotations (admission plugins PodNodeSelector and PodTolerationRestriction) that
# place every pod of the namespace on the kwok Nodes: for workloads whose images do not exist.
KWOK_PLACEMENT = {
    "scheduler.alpha.kubernetes.io/node-selector": KWOK_LABEL_SELECTOR,
    "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps([KWOK_TOLERATION]),
}
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")

KUBECONFIG_TEMPLATE = """apiVersion: v1
kind: Config
clusters:
- name: logsentinel-dev
  cluster:
    server: https://{host}:{port}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: logsentinel-dev
  context:
    cluster: logsentinel-dev
    user: {user}
    namespace: default
current-context: logsentinel-dev
"""

KWOK_CONFIG = """apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
"""


def namespace_manifest(name: str, *, kwok: bool) -> str:
    """A Namespace as JSON; ``kwok``: its pods go to the kwok Nodes (images need not exist)."""
    metadata: dict[str, object] = {"name": name}
    if kwok:
        metadata["annotations"] = KWOK_PLACEMENT
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def node_manifest(name: str) -> dict[str, Any]:
    """A Node for kwok to manage: roomy, labelled like a real worker, tainted so that only pods
    that tolerate KWOK_TAINT (see KWOK_PLACEMENT) land on it."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
                **KWOK_NODE_SELECTOR,
            },
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [KWOK_TAINT]},
        "status": {"allocatable": resources, "capacity": resources},
    }


def _ready_nodes(api: KubeAPI) -> int:
    """How many kwok Nodes are Ready."""
    count = 0
    for node in api.get("/api/v1/nodes?labelSelector=type%3Dkwok")["items"]:
        conditions = node.get("status", {}).get("conditions", [])
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            count += 1
    return count


class Kube(Component):
    """The control plane plus kwok, managed as one component."""

    name = "kube"
    external_var = KUBECONFIG_VAR

    @property
    def pki(self) -> Path:
        """Certificates and keys."""
        return self.state / "pki"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig handed to users and tests."""
        return self.state / "admin.kubeconfig"

    def daemon(self, process: str) -> Daemon:
        """One of the control plane's processes."""
        return Daemon(process, self.state)

    def _ports(self) -> dict[str, int] | None:
        state = load_json(self.state / "state.json")
        return None if state is None else {k: int(v) for k, v in state["ports"].items()}

    @property
    def host(self) -> str:
        """The address the apiserver listens on (the pod gateway, or loopback without one)."""
        state = load_json(self.state / "state.json") or {}
        return str(state.get("host", "127.0.0.1"))

    def kubeconfig_of(self, identity: str) -> Path:
        """The kubeconfig of one client identity (admin's is the one users get)."""
        return self.kubeconfig if identity == "admin" else self.state / f"{identity}.kubeconfig"

    def api(self, identity: str = "admin") -> KubeAPI:
        """A client for the running apiserver."""
        ports = self._ports()
        if ports is None:
            raise StackError("kube is not running (no .stack/kube/state.json)")
        return KubeAPI(
            ports["apiserver"],
            self.pki / "ca.crt",
            self.pki / f"{identity}.crt",
            self.pki / f"{identity}.key",
            host=self.host,
        )

    def daemons(self) -> list[Daemon]:
        """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok."""
        return [self.daemon(process) for process in PROCESSES]

    def address(self) -> str:
        """Path of the admin kubeconfig."""
        return str(self.kubeconfig)

    def exports(self) -> dict[str, str]:
        """KUBECONFIG plus the kubectl/helm binaries of the build cache (when built)."""
        found = super().exports()
        tool_dirs = []
        for var, tool in (("LOGSENTINEL_KUBECTL", "kubectl"), ("LOGSENTINEL_HELM", "helm")):
            path = kubebuild.binary(tool)
            if path.is_file():
                found[var] = str(path)
                tool_dirs.append(str(path.parent))
        if tool_dirs:
            found["PATH"] = ":".join(tool_dirs)
        return found

    def build(self) -> None:
        """Build etcd, the Kubernetes commands, kwok and helm (cached by version)."""
        kubebuild.build_all()

    def running(self) -> bool:
        """Every process is alive, the apiserver is ready and the Nodes are Ready."""
        if self._ports() is None or not all(self.daemon(p).alive() for p in PROCESSES):
            return False
        try:
            api = self.api()
            return api.ok("/readyz") and _ready_nodes(api) >= NODE_COUNT
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

    def _write_kubeconfig(self, path: Path, identity: str, host: str, port: int) -> None:
        path.write_text(
            KUBECONFIG_TEMPLATE.format(
                host=host,
                port=port,
                ca=_b64(self.pki / "ca.crt"),
                user=identity,
                cert=_b64(self.pki / f"{identity}.crt"),
                key=_b64(self.pki / f"{identity}.key"),
            )
        )
        path.chmod(0o600)

    def _start(self) -> None:
        gateway = podnet.gateway_if_available()
        host = gateway or "127.0.0.1"
        serving_ips = (gateway, KUBERNETES_SERVICE_IP) if gateway else ()
        pki.ensure_pki(self.pki, CLIENTS, serving_ips=serving_ips, identities=NODE_IDENTITIES)
        ports = self._pick_ports()
        save_json(
            self.state / "state.json",
            {"ports": ports, "kubeconfig": str(self.kubeconfig), "host": host},
        )
        for identity in (*CLIENTS, *NODE_IDENTITIES):
            self._write_kubeconfig(self.kubeconfig_of(identity), identity, host, ports["apiserver"])
        self._start_etcd(ports)
        self._start_apiserver(ports, gateway)
        self._start_controllers(ports)
        self._start_kwok(ports)
        self._wait_cluster_usable()

    def _start_etcd(self, ports: dict[str, int]) -> None:
        client = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd_peer']}"
        etcd = self.daemon("etcd")
        etcd.start(
            [
                str(kubebuild.binary("etcd")), "--name=devstack",
                f"--data-dir={self.state / 'etcd-data'}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=devstack={peer}", "--listen-metrics-urls=",
                "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=2147483648",
            ]
        )  # fmt: skip
        wait_until(
            "etcd /health", lambda: _etcd_healthy(ports["etcd"]), 60,
            failure=etcd.fail, alive=etcd.alive,
        )  # fmt: skip

    def _start_apiserver(self, ports: dict[str, int], gateway: str | None) -> None:
        p = self.pki
        if gateway is not None:  # the `kubernetes` Service leads pods to the gateway
            addresses = [f"--bind-address={gateway}", f"--advertise-address={gateway}"]
        else:
            addresses = [
                "--bind-address=127.0.0.1", f"--advertise-address={ADVERTISE_ADDRESS}",
                "--endpoint-reconciler-type=none",
            ]  # fmt: skip
        kubelet_client = p / "apiserver-kubelet-client"
        apiserver = self.daemon("kube-apiserver")
        apiserver.start(
            [
                str(kubebuild.binary("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                f"--secure-port={ports['apiserver']}", *addresses,
                f"--kubelet-client-certificate={kubelet_client}.crt",
                f"--kubelet-client-key={kubelet_client}.key",
                "--kubelet-preferred-address-types=InternalIP",
                "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
                f"--tls-cert-file={p / 'serving.crt'}",
                f"--tls-private-key-file={p / 'serving.key'}", f"--client-ca-file={p / 'ca.crt'}",
                f"--requestheader-client-ca-file={p / 'ca.crt'}",
                f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p / (pki.FRONT_PROXY_CLIENT + '.crt')}",
                f"--proxy-client-key-file={p / (pki.FRONT_PROXY_CLIENT + '.key')}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--authorization-mode=Node,RBAC", "--allow-privileged=true",
                f"--cert-dir={self.state / 'apiserver-certs'}", "--profiling=false",
                "--v=1",
            ]
        )  # fmt: skip
        admin = self.api()
        wait_until(
            "kube-apiserver /readyz", lambda: admin.ok("/readyz"), 180,
            failure=apiserver.fail, alive=apiserver.alive,
        )  # fmt: skip

    def _start_controllers(self, ports: dict[str, int]) -> None:
        p = self.pki
        common = [
            "--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false",
            f"--tls-cert-file={p / 'serving.crt'}", f"--tls-private-key-file={p / 'serving.key'}",
            "--v=1",
        ]  # fmt: skip
        for process, port_key, extra in (
            (
                "kube-controller-manager",
                "controller_manager",
                [
                    "--controllers=*",
                    "--use-service-account-credentials=false",
                    f"--service-account-private-key-file={p / 'sa.key'}",
                    f"--root-ca-file={p / 'ca.crt'}",
                    f"--cluster-signing-cert-file={p / 'ca.crt'}",
                    f"--cluster-signing-key-file={p / 'ca.key'}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--concurrent-deployment-syncs=5",
                    "--concurrent-replicaset-syncs=5",
                ],
            ),
            ("kube-scheduler", "scheduler", []),
        ):
            kubeconfig = self.state / f"{process}.kubeconfig"
            self.daemon(process).start(
                [
                    str(kubebuild.binary(process)), f"--kubeconfig={kubeconfig}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    f"--authorization-kubeconfig={kubeconfig}",
                    f"--secure-port={ports[port_key]}", *common, *extra,
                ]
            )  # fmt: skip
        self._wait_healthz("kube-controller-manager", ports["controller_manager"])
        self._wait_healthz("kube-scheduler", ports["scheduler"])

    def _wait_healthz(self, process: str, port: int) -> None:
        probe = KubeAPI(port, self.pki / "ca.crt")
        daemon = self.daemon(process)
        wait_until(
            f"{process} /healthz", lambda: probe.ok("/healthz"), 90,
            failure=daemon.fail, alive=daemon.alive,
        )  # fmt: skip

    def _start_kwok(self, ports: dict[str, int]) -> None:
        config = self.state / "kwok.yaml"
        config.write_text(KWOK_CONFIG)
        kwok = self.daemon("kwok")
        kwok.start(
            [
                str(kubebuild.binary("kwok")),
                f"--kubeconfig={self.state / 'kwok.kubeconfig'}", f"--config={config}",
                "--manage-nodes-with-label-selector=type=kwok", f"--cidr={POD_CIDR}",
                "--node-ip=10.244.0.1",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                "--node-lease-duration-seconds=40",
            ]
        )  # fmt: skip
        wait_until(
            "kwok /healthz", lambda: _http_ok(ports["kwok"], "/healthz"), 60,
            failure=kwok.fail, alive=kwok.alive,
        )  # fmt: skip
        api = self.api()
        for index in range(NODE_COUNT):
            if api.create("/api/v1/nodes", node_manifest(f"kwok-node-{index}")):
                log.info("node-created", name=f"kwok-node-{index}")

    def _wait_cluster_usable(self) -> None:
        api = self.api()
        kwok = self.daemon("kwok")
        wait_until(
            f"{NODE_COUNT} Nodes Ready (kwok)", lambda: _ready_nodes(api) >= NODE_COUNT, 90,
            failure=kwok.fail, alive=kwok.alive,
        )  # fmt: skip
        kcm = self.daemon("kube-controller-manager")
        wait_until(
            "ServiceAccount default/default (controller-manager working)",
            lambda: (
                api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200
            ),
            90,
            failure=kcm.fail,
            alive=kcm.alive,
        )

    def _stop(self) -> None:
        """Stop kwok, the controllers, the apiserver, then etcd."""
        for process in reversed(PROCESSES):
            self.daemon(process).stop()
        (self.state / "state.json").unlink(missing_ok=True)


def _http_ok(port: int, path: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
        return int(resp.status) == 200


def _etcd_healthy(port: int) -> bool:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
        return bool(json.loads(resp.read()).get("health") == "true")
