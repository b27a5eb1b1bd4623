"""The peering objects the operator creates when they are missing."""

from __future__ import annotations

from logsentinel.kube.peering import manifest


def test_a_namespaced_operator_gets_a_kopf_peering_per_namespace() -> None:
    assert manifest("logsentinel", "shop") == {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": "logsentinel", "namespace": "shop"},
    }


def test_a_cluster_wide_operator_gets_a_cluster_kopf_peering() -> None:
    assert manifest("logsentinel", None) == {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "logsentinel"},
    }
