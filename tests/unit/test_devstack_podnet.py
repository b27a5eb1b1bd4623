"""Where pods reach the host: the local node's bridge, or another cluster's network (Kind)."""

from __future__ import annotations

import ipaddress

import pytest

from devstack import podnet
from devstack.errors import StackError


def test_pods_of_another_cluster_reach_the_host_on_its_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(podnet.POD_HOST_VAR, "172.18.0.1/16")
    assert podnet.gateway_if_available() == "172.18.0.1"
    assert podnet.pod_network() == ipaddress.IPv4Network("172.18.0.0/16")


def test_without_another_cluster_pods_are_the_real_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(podnet.POD_HOST_VAR, raising=False)
    assert podnet.pod_network() == podnet.POD_SUBNET


@pytest.mark.parametrize("value", ["172.18.0.1", "kind", "fc00::1/64"])
def test_a_pod_host_without_a_prefix_or_not_ipv4_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(podnet.POD_HOST_VAR, value)
    with pytest.raises(StackError, match=podnet.POD_HOST_VAR):
        podnet.pod_host()
