"""The real node's pod network: one Linux bridge whose gateway address pods use to reach the host.

Pods on the real node sit on the bridge ``lsnode0`` (``10.90.0.0/16``, CNI bridge + host-local).
The servers that pods use (kube-apiserver, PostgreSQL, Kafka, cluster DNS) listen on the bridge's
gateway address as well as loopback; nothing else leaves loopback. The bridge is created up front
(before those servers bind to its address) and is kept across ``make down``: it holds no state.

Creating a bridge needs root (``CAP_NET_ADMIN``); without it the stack runs on loopback only and
the real node cannot start (``available()`` says why).

Pods of another cluster on this machine (a Kind cluster, whose nodes are Docker containers) reach
the host on that cluster's network instead: ``LOGSENTINEL_POD_HOST=<address>/<prefix>`` (for Kind,
the gateway of the ``kind`` Docker network, e.g. ``172.18.0.1/16``) makes PostgreSQL and Kafka
listen there and trust that network, and no bridge is made.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from devstack import log, paths
from devstack.errors import MissingPrerequisite, StackError

BRIDGE = "lsnode0"
POD_SUBNET = ipaddress.IPv4Network("10.90.0.0/16")
GATEWAY = "10.90.0.1"
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    # Service traffic between two pods on the same bridge must pass kube-proxy's iptables rules.
    "net/bridge/bridge-nf-call-iptables": "1",
}


POD_HOST_VAR = "LOGSENTINEL_POD_HOST"


def pod_host() -> ipaddress.IPv4Interface | None:
    """The host's address and network as another cluster's pods see them (LOGSENTINEL_POD_HOST),
    or None when pods are the real node's."""
    value = os.environ.get(POD_HOST_VAR)
    if not value:
        return None
    problem = f"{POD_HOST_VAR}={value!r} is not <IPv4 address>/<prefix>"
    if "/" not in value:  # an address alone would be a /32: no pod could connect
        raise StackError(problem)
    try:
        return ipaddress.IPv4Interface(value)
    except ValueError as error:
        raise StackError(problem) from error


def pod_network() -> ipaddress.IPv4Network:
    """The network pods connect to the host from."""
    host = pod_host()
    return POD_SUBNET if host is None else host.network


def unavailable_reason() -> str | None:
    """Why this machine cannot have the pod network, or None when it can."""
    if os.geteuid() != 0:
        return "the real node needs root (it creates a bridge, cgroups and mounts)"
    if shutil.which("ip") is None:
        return "`ip` is not on PATH (apt-get install iproute2)"
    if not Path("/proc/sys/net/bridge").is_dir():
        return "the kernel has no bridge netfilter (/proc/sys/net/bridge is missing)"
    return None


def available() -> bool:
    """True when the bridge exists or can be created here."""
    return bridge_exists() or unavailable_reason() is None


def bridge_exists() -> bool:
    """The bridge is up with its gateway address."""
    done = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", BRIDGE],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and f" {GATEWAY}/" in done.stdout


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0 and "File exists" not in done.stderr:
        raise StackError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def ensure_bridge() -> str:
    """Create the bridge with its gateway address (idempotent, safe across processes).

    Returns the gateway address; raises MissingPrerequisite when this machine cannot have it.
    """
    lock = paths.state_root() / "podnet.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not bridge_exists():
            reason = unavailable_reason()
            if reason is not None:
                raise MissingPrerequisite(f"no pod network: {reason}")
            _ip("link", "add", BRIDGE, "type", "bridge")
            _ip("addr", "add", f"{GATEWAY}/{POD_SUBNET.prefixlen}", "dev", BRIDGE)
            _ip("link", "set", BRIDGE, "up")
            log.info("bridge-created", bridge=BRIDGE, gateway=GATEWAY, subnet=POD_SUBNET)
        for key, value in SYSCTLS.items():
            Path("/proc/sys", key).write_text(value)
    return GATEWAY


def gateway_if_available() -> str | None:
    """The address pods reach the host on: LOGSENTINEL_POD_HOST's, else the bridge's gateway
    after making sure the bridge exists; None on machines without it."""
    host = pod_host()
    if host is not None:
        return str(host.ip)
    if not available():
        return None
    return ensure_bridge()
