"""The local stack's Kubernetes control plane runs real controllers: Deployments reach Ready
pods on kwok Nodes, and rollout restart / set image / rollout undo behave as on a cluster."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config

from devstack.kube import KWOK_LABEL_SELECTOR, KWOK_TAINT
from devstack.pytest_plugin import Kubectl

pytestmark = pytest.mark.e2e

APP = "web"
IMAGE_V1 = "registry.invalid/logsentinel/web:1.0"
IMAGE_V2 = "registry.invalid/logsentinel/web:2.0"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    """Poll ``check`` until true; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for: {what}")
        time.sleep(0.25)


@pytest.fixture
def api(kube_config: str) -> Iterator[client.ApiClient]:
    new_client = config.new_client_from_config  # untyped in the kubernetes package
    with new_client(config_file=kube_config) as api_client:  # type: ignore[no-untyped-call]
        yield api_client


def deployment_manifest(replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": APP, "image": IMAGE_V1}]},
            },
        },
    }


def as_dict(api: client.ApiClient, obj: object) -> dict[str, Any]:
    """A client model as the plain JSON-shaped dict the API server sent (camelCase keys)."""
    data = api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    assert isinstance(data, dict)
    return data


def is_ready(obj: dict[str, Any]) -> bool:
    """True when the object's Ready condition is True."""
    conditions = obj.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def ready_pods(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Pods of the app that are Running and Ready, excluding terminating ones."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={APP}")
    return [
        pod
        for pod in as_dict(api, pods)["items"]
        if not pod["metadata"].get("deletionTimestamp")
        and pod["status"].get("phase") == "Running"
        and is_ready(pod)
    ]


def pod_images(api: client.ApiClient, namespace: str) -> set[str]:
    """Images of the app's Running+Ready pods."""
    return {c["image"] for pod in ready_pods(api, namespace) for c in pod["spec"]["containers"]}


def deployment(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    """The app's Deployment as a dict."""
    return as_dict(api, client.AppsV1Api(api).read_namespaced_deployment(APP, namespace))


def replica_sets(api: client.ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    """The namespace's ReplicaSets by name."""
    found = as_dict(api, client.AppsV1Api(api).list_namespaced_replica_set(namespace))
    return {rs["metadata"]["name"]: rs for rs in found["items"]}


def rollout_complete(api: client.ApiClient, namespace: str, replicas: int = 2) -> bool:
    """The Deployment controller observed the latest spec and all replicas are updated+ready."""
    dep = deployment(api, namespace)
    status = dep.get("status", {})
    return bool(
        status.get("observedGeneration", 0) >= dep["metadata"]["generation"]
        and status.get("updatedReplicas") == replicas
        and status.get("readyReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
    )


def kubectl_images(kubectl: Kubectl, namespace: str) -> set[str]:
    """Images of the app's Running, non-terminating pods, read through kubectl."""
    out = kubectl("-n", namespace, "get", "pods", "-l", f"app={APP}", "-o", "json").stdout
    images: set[str] = set()
    for pod in json.loads(out)["items"]:
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") != "Running":
            continue
        images.update(c["image"] for c in pod["spec"]["containers"])
    return images


def test_cluster_has_two_ready_kwok_nodes_tainted_against_real_workloads(
    api: client.ApiClient,
) -> None:
    nodes = as_dict(api, client.CoreV1Api(api).list_node(label_selector=KWOK_LABEL_SELECTOR))
    ready = [node for node in nodes["items"] if is_ready(node)]
    assert len(ready) >= 2
    assert all(node["spec"].get("taints") == [KWOK_TAINT] for node in ready)


def test_deployment_rollout_restart_set_image_and_undo(
    api: client.ApiClient, kubectl: Kubectl, kube_namespace: str
) -> None:
    ns = kube_namespace

    # 1. Two replicas become Running and Ready on kwok Nodes (scheduled by kube-scheduler).
    kubectl("-n", ns, "apply", "-f", "-", stdin=json.dumps(deployment_manifest()))
    wait_for("deployment rolled out", lambda: rollout_complete(api, ns))
    wait_for("2 Running+Ready pods", lambda: len(ready_pods(api, ns)) == 2)
    assert all(pod["spec"]["nodeName"].startswith("kwok-") for pod in ready_pods(api, ns))
    first = set(replica_sets(api, ns))
    assert len(first) == 1

    # 2. rollout restart makes a new ReplicaSet and the rollout completes.
    kubectl("-n", ns, "rollout", "restart", f"deployment/{APP}")
    kubectl("-n", ns, "rollout", "status", f"deployment/{APP}", "--timeout=120s", timeout=150)
    wait_for("restart rolled out", lambda: rollout_complete(api, ns))
    after = replica_sets(api, ns)
    new = [rs for name, rs in after.items() if name not in first]
    assert len(new) == 1
    assert new[0]["status"].get("readyReplicas") == 2
    annotations = new[0]["spec"]["template"]["metadata"].get("annotations") or {}
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    wait_for(
        "old ReplicaSet scaled to 0",
        lambda: all(
            replica_sets(api, ns)[name]["status"].get("replicas", 0) == 0 for name in first
        ),
    )
    wait_for("2 Ready pods after restart", lambda: len(ready_pods(api, ns)) == 2)

    # 3. A new image rolls out; rollout undo restores the previous one.
    kubectl("-n", ns, "set", "image", f"deployment/{APP}", f"{APP}={IMAGE_V2}")
    kubectl("-n", ns, "rollout", "status", f"deployment/{APP}", "--timeout=120s", timeout=150)
    wait_for("v2 rolled out", lambda: rollout_complete(api, ns))
    wait_for("only v2 pods run", lambda: kubectl_images(kubectl, ns) == {IMAGE_V2})

    kubectl("-n", ns, "rollout", "undo", f"deployment/{APP}")
    kubectl("-n", ns, "rollout", "status", f"deployment/{APP}", "--timeout=120s", timeout=150)
    wait_for("undo rolled out", lambda: rollout_complete(api, ns))
    template = deployment(api, ns)["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == IMAGE_V1
    wait_for(
        "2 Ready pods run the restored image",
        lambda: pod_images(api, ns) == {IMAGE_V1} and len(ready_pods(api, ns)) == 2,
    )
