"""The operator's start on a real apiserver: it creates its missing peering object instead of
waiting silently for one, and exits with a message naming the object when it may not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support.operator import Cluster, OperatorProcess, token_kubeconfig
from support.running import eventually

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PEERING = "logsentinel"


def example_rule(namespace: str) -> dict[str, Any]:
    rule: dict[str, Any] = yaml.safe_load(
        (REPO / "examples" / "rules" / "threshold-error-burst.yaml").read_text()
    )
    rule["metadata"]["namespace"] = namespace
    rule["spec"]["selector"]["namespaces"] = [namespace]
    return rule


def rule_ready(cluster: Cluster, name: str) -> bool:
    conditions = (cluster.get("detectionrule", name).get("status") or {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_the_operator_creates_its_missing_peering_object_and_serves(cluster: Cluster) -> None:
    cluster.kubectl("delete", "kopfpeering", PEERING, "-n", cluster.namespace)
    operator = cluster.start_operator()

    eventually(
        "the KopfPeering created by the operator",
        lambda: bool(
            cluster.get("kopfpeerings", "--field-selector", f"metadata.name={PEERING}")["items"]
        ),
        60,
    )
    rule = example_rule(cluster.namespace)
    cluster.apply(rule)
    eventually("the rule Ready", lambda: rule_ready(cluster, rule["metadata"]["name"]), 60)
    assert operator.alive()
    assert "peering object created" in operator.log()


def test_without_the_right_to_create_it_the_operator_exits_naming_the_object(
    cluster: Cluster, kube_config: str, tmp_path: Path
) -> None:
    cluster.kubectl("delete", "kopfpeering", PEERING, "-n", cluster.namespace)
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", cluster.namespace)
    kubeconfig = token_kubeconfig(
        cluster.kubectl, kube_config, cluster.namespace, "nobody", tmp_path
    )
    operator = OperatorProcess(
        kubeconfig, cluster.database_url, cluster.namespace, tmp_path / "operator.log"
    )
    try:
        eventually("the operator exits", lambda: not operator.alive(), 60)
        output = operator.log()
    finally:
        operator.stop()
    assert operator.process.returncode not in (0, None)
    expected = f"peering object KopfPeering {cluster.namespace}/{PEERING} could not be read"
    assert expected in output, output[-3000:]
    assert "403 Forbidden" in output
    assert "kubectl apply -f -" in output
    assert "LOGSENTINEL_STANDALONE=true" in output
