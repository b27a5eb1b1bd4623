"""The Helm chart on the real node: `helm install` brings the operator and the API up Ready,
`helm test` passes, a DetectionRule applied with kubectl gets Ready, `helm upgrade` with changed
values rolls the pods and keeps the generated secrets, `helm uninstall` removes everything but
the CRDs and the custom resources. The install's time to every pod Ready is reported as
``helm_install_ready_s``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest

from devstack.kube import REAL_NODE
from devstack.pytest_plugin import Kubectl
from support.node import CHART, chart_values, condition, example, is_ready, release_pods
from support.operator import get_json
from support.running import eventually

pytestmark = pytest.mark.node

HELM_TIMEOUT = "5m"


def test_helm_install_test_upgrade_and_uninstall(
    helm: Kubectl,
    crds: Kubectl,
    node_namespace: str,
    logsentinel_image: str,
    pod_database_url: str,
    node_figure: Callable[[str, float], None],
    diagnostics: None,
) -> None:
    kubectl, namespace = crds, node_namespace
    release = f"ls-{uuid.uuid4().hex[:6]}"
    fullname = f"{release}-logsentinel"
    values = chart_values(logsentinel_image, pod_database_url, namespace)
    try:
        began = time.monotonic()
        helm(
            "install", release, str(CHART), "-n", namespace, *values,
            "--wait", "--timeout", HELM_TIMEOUT, timeout=360,
        )  # fmt: skip
        pods = release_pods(kubectl, namespace, release)
        assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
        assert all(is_ready(p) for p in pods)
        node_figure("helm_install_ready_s", time.monotonic() - began)
        assert {p["spec"]["nodeName"] for p in pods} == {REAL_NODE}
        kubectl("wait", "--for=condition=Established", "--timeout=30s", "-f", str(CHART / "crds"))

        tested = helm("test", release, "-n", namespace, "--timeout", "2m", timeout=180)
        assert "Phase:          Succeeded" in tested.stdout, tested.stdout

        rule = example("rules/threshold-error-burst.yaml", namespace)
        kubectl("apply", "-f", "-", stdin=json.dumps(rule))
        name = rule["metadata"]["name"]
        eventually(
            "the rule Ready (the chart's operator reconciles it)",
            lambda: condition(kubectl, namespace, "detectionrule", name, "Ready") == "True",
            60,
        )

        secret = get_json(kubectl, "secret", f"{fullname}-api", "-n", namespace)["data"]
        before = {p["metadata"]["uid"] for p in pods}
        helm(
            "upgrade", release, str(CHART), "-n", namespace, "--reuse-values",
            "--set", "operator.logLevel=debug", "--set-string", "api.podAnnotations.upgraded=yes",
            "--wait", "--timeout", HELM_TIMEOUT, timeout=360,
        )  # fmt: skip

        def rolled() -> bool:
            now = release_pods(kubectl, namespace, release)
            uids = {p["metadata"]["uid"] for p in now}
            return len(now) == 2 and all(is_ready(p) for p in now) and uids.isdisjoint(before)

        eventually("only new pods, all Ready", rolled, 120)
        after = get_json(kubectl, "secret", f"{fullname}-api", "-n", namespace)["data"]
        assert after == secret, "the generated JWT key and admin password survive the upgrade"
    finally:
        helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "2m", check=False)

    selector = f"app.kubernetes.io/instance={release}"
    left = kubectl(
        "get", "deployments,services,secrets,serviceaccounts,configmaps", "-n", namespace,
        "-l", selector, "-o", "name",
    ).stdout.split()  # fmt: skip
    assert left == [], left
    roles = kubectl("get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name")
    assert roles.stdout.split() == []
    assert kubectl("get", "crd", "detectionrules.logsentinel.io", "-o", "name").stdout.strip()
    assert get_json(kubectl, "detectionrule", name, "-n", namespace)["metadata"]["name"] == name
