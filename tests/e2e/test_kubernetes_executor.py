"""The Kubernetes executor and the event recorder against the real apiserver of the local stack:
workloads run pods on kwok nodes, so restarts, rollbacks, scaling and pod deletions are carried
out by the real controllers and observed the way `kubectl` users see them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from devstack.kube import KWOK_LABEL_SELECTOR, KWOK_NODE_SELECTOR, KWOK_TOLERATION
from devstack.pytest_plugin import Kubectl
from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.kube.client import api_client
from logsentinel.kube.events import EventRecorder
from logsentinel.remediation.executor import (
    MARKER_ANNOTATION,
    MARKER_TIME_ANNOTATION,
    ExecutorError,
    TargetNotFoundError,
)
from logsentinel.remediation.kubernetes import (
    POD_TEMPLATE_HASH_LABEL,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    KubernetesExecutor,
)
from support.running import eventually

pytestmark = pytest.mark.e2e

V1 = "registry.invalid/checkout:1"
V2 = "registry.invalid/checkout:2"
PODS_TIMEOUT = 90  # seconds for pods to be scheduled on kwok nodes and reach Running/Ready


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def api(kube_config: str) -> Iterator[client.ApiClient]:
    with api_client(kube_config) as connected:
        yield connected


@pytest.fixture
def executor(api: client.ApiClient) -> KubernetesExecutor:
    return KubernetesExecutor(api)


def at(second: int) -> datetime:
    return datetime(2030, 1, 2, 3, 4, second, 500000, tzinfo=UTC)


def deployment(
    namespace: str,
    name: str,
    image: str = V1,
    replicas: int = 1,
    env: dict[str, str] | None = None,
    sidecar: str | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    containers = [container]
    if sidecar:
        containers.append({"name": "sidecar", "image": sidecar})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    }


def apply(kubectl: Kubectl, document: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps(document))


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    document = json.loads(kubectl("get", *args, "-o", "json").stdout)
    assert isinstance(document, dict)
    return document


def ref(namespace: str, name: str, kind: WorkloadKind = WorkloadKind.DEPLOYMENT) -> WorkloadRef:
    return WorkloadRef(kind=kind, namespace=namespace, name=name)


def pods_of(kubectl: Kubectl, namespace: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(kubectl, "pods", "-n", namespace, "-l", f"app={app}")[
        "items"
    ]
    return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]


def running_images(kubectl: Kubectl, namespace: str, app: str) -> list[list[str]]:
    """The container images of every live pod, with [] for a pod that is not Running."""
    return [
        [c["image"] for c in pod["spec"]["containers"]]
        if pod["status"].get("phase") == "Running"
        else []
        for pod in pods_of(kubectl, namespace, app)
    ]


def replica_sets(kubectl: Kubectl, namespace: str, app: str) -> dict[str, dict[str, Any]]:
    """The Deployment's ReplicaSets by revision."""
    items = get_json(kubectl, "replicasets", "-n", namespace, "-l", f"app={app}")["items"]
    return {rs["metadata"]["annotations"][REVISION_ANNOTATION]: rs for rs in items}


def wait_rolled_out(executor: KubernetesExecutor, target: WorkloadRef, revision: str) -> None:
    def done() -> bool:
        state = executor.target_state(target)
        return state.revision == revision and state.rollout_complete

    eventually(f"{target} rolled out at revision {revision}", done, PODS_TIMEOUT)


def annotations(kubectl: Kubectl, *args: str) -> dict[str, str]:
    found: dict[str, str] = get_json(kubectl, *args)["metadata"].get("annotations") or {}
    return found


# --- state --------------------------------------------------------------------------------------


def test_state_of_a_fresh_deployment_until_its_rollout_completes(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout", replicas=2))
    target = ref(kube_namespace, "checkout")

    state = executor.target_state(target)
    assert state.ref == target
    assert state.desired_replicas == 2
    assert state.images == {"app": V1}
    assert state.generation >= 1
    assert state.last_action is None
    assert state.last_action_at is None

    eventually("the rollout completes", lambda: executor.target_state(target).rollout_complete, 90)
    state = executor.target_state(target)
    assert (state.ready_replicas, state.available_replicas, state.updated_replicas) == (2, 2, 2)
    assert state.observed_generation == state.generation
    assert state.revision == "1"
    assert running_images(kubectl, kube_namespace, "checkout") == [[V1], [V1]]


def test_statefulset_and_daemonset_state_restart_and_pod_deletion(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    template = {
        "metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": "registry.invalid/db:1"}]},
    }
    apply(
        kubectl,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": kube_namespace},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": template,
            },
        },
    )
    # A DaemonSet template is placed by its own nodeSelector, not the namespace's defaults.
    agent_template = {
        "metadata": {"labels": {"app": "agent"}},
        "spec": {
            "containers": [{"name": "agent", "image": "registry.invalid/agent:1"}],
            "nodeSelector": KWOK_NODE_SELECTOR,
            "tolerations": [KWOK_TOLERATION],
        },
    }
    apply(
        kubectl,
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": kube_namespace},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": agent_template},
        },
    )
    stateful = ref(kube_namespace, "db", WorkloadKind.STATEFUL_SET)
    daemon = ref(kube_namespace, "agent", WorkloadKind.DAEMON_SET)

    eventually("the StatefulSet is ready", lambda: executor.target_state(stateful).rollout_complete)
    state = executor.target_state(stateful)
    assert (state.desired_replicas, state.ready_replicas, state.images) == (
        2,
        2,
        {"db": "registry.invalid/db:1"},
    )
    assert state.revision is None

    nodes = len(get_json(kubectl, "nodes", "-l", KWOK_LABEL_SELECTOR)["items"])

    def daemon_ready() -> bool:
        found = executor.target_state(daemon)
        return found.desired_replicas == nodes and found.rollout_complete

    eventually("the DaemonSet runs a pod on every kwok node", daemon_ready, PODS_TIMEOUT)
    state = executor.target_state(daemon)
    assert state.ready_replicas == state.available_replicas == state.updated_replicas == nodes
    assert state.images == {"agent": "registry.invalid/agent:1"}

    message = executor.rollout_restart(daemon, "inc-9/restart/1", at(9))
    assert message == f"restarted DaemonSet {kube_namespace}/agent"
    restarted = get_json(kubectl, "daemonset", "agent", "-n", kube_namespace)
    pod_annotations = restarted["spec"]["template"]["metadata"]["annotations"]
    assert datetime.fromisoformat(pod_annotations[RESTARTED_AT_ANNOTATION]) == at(9)
    assert executor.target_state(daemon).last_action == "inc-9/restart/1"

    agent_pod = pods_of(kubectl, kube_namespace, "agent")[0]["metadata"]["name"]
    with pytest.raises(ExecutorError, match=f"{agent_pod} \\(DaemonSet agent\\)"):
        executor.delete_pods(stateful, ["db-0", agent_pod], "inc-9/delete/1", at(9))
    old_uid = get_json(kubectl, "pod", "db-0", "-n", kube_namespace)["metadata"]["uid"]
    message = executor.delete_pods(stateful, ["db-0"], "inc-9/delete/2", at(9))
    assert message == f"deleted 1 pod(s) of StatefulSet {kube_namespace}/db: db-0"

    def db0_recreated() -> bool:
        pods = {p["metadata"]["name"]: p for p in pods_of(kubectl, kube_namespace, "db")}
        return "db-0" in pods and pods["db-0"]["metadata"]["uid"] != old_uid

    eventually("db-0 is recreated", db0_recreated, PODS_TIMEOUT)
    assert executor.target_state(stateful).last_action == "inc-9/delete/2"


# --- restart ------------------------------------------------------------------------------------


def test_rollout_restart_sets_restarted_at_and_the_marker_and_rolls_out_a_new_replicaset(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout"))
    target = ref(kube_namespace, "checkout")
    wait_rolled_out(executor, target, "1")
    old_pods = {p["metadata"]["uid"] for p in pods_of(kubectl, kube_namespace, "checkout")}

    message = executor.rollout_restart(target, "inc-1/restart/1", at(1))

    assert message == f"restarted Deployment {kube_namespace}/checkout"
    document = get_json(kubectl, "deployment", "checkout", "-n", kube_namespace)
    restarted_at = document["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT_ANNOTATION]
    assert datetime.fromisoformat(restarted_at) == at(1)
    assert document["metadata"]["annotations"][MARKER_ANNOTATION] == "inc-1/restart/1"
    state = executor.target_state(target)
    assert state.last_action == "inc-1/restart/1"
    assert state.last_action_at == at(1)
    assert state.last_action_at.tzinfo is not None

    eventually(
        "a second ReplicaSet", lambda: len(replica_sets(kubectl, kube_namespace, "checkout")) == 2
    )
    wait_rolled_out(executor, target, "2")

    def pods_replaced() -> bool:
        pods = pods_of(kubectl, kube_namespace, "checkout")
        return len(pods) == 1 and pods[0]["metadata"]["uid"] not in old_pods

    eventually("the old pod is replaced", pods_replaced, PODS_TIMEOUT)


def test_restart_of_a_paused_deployment_is_refused(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    document = deployment(kube_namespace, "checkout")
    document["spec"]["paused"] = True
    apply(kubectl, document)
    target = ref(kube_namespace, "checkout")

    with pytest.raises(ExecutorError, match=r"checkout: it is paused"):
        executor.rollout_restart(target, "inc-1/restart/1", at(1))
    assert executor.target_state(target).last_action is None


# --- rollback -----------------------------------------------------------------------------------


def test_rollback_restores_the_previous_template_exactly(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout", replicas=2))
    target = ref(kube_namespace, "checkout")
    wait_rolled_out(executor, target, "1")
    v1_template = get_json(kubectl, "deployment", "checkout", "-n", kube_namespace)["spec"][
        "template"
    ]
    apply(
        kubectl,
        deployment(
            kube_namespace,
            "checkout",
            image=V2,
            replicas=2,
            env={"FEATURE": "on"},
            sidecar="registry.invalid/proxy:1",
        ),
    )
    wait_rolled_out(executor, target, "2")
    assert executor.target_state(target).images == {
        "app": V2,
        "sidecar": "registry.invalid/proxy:1",
    }

    message = executor.rollback(target, "inc-2/rollback/1", at(2))

    assert message == (
        f"rolled back Deployment {kube_namespace}/checkout from revision 2 to 1 (image {V1})"
    )
    document = get_json(kubectl, "deployment", "checkout", "-n", kube_namespace)
    assert document["spec"]["template"] == v1_template
    assert POD_TEMPLATE_HASH_LABEL not in document["spec"]["template"]["metadata"]["labels"]
    assert "env" not in document["spec"]["template"]["spec"]["containers"][0]
    assert document["metadata"]["annotations"][MARKER_ANNOTATION] == "inc-2/rollback/1"
    assert datetime.fromisoformat(document["metadata"]["annotations"][MARKER_TIME_ANNOTATION]) == (
        at(2)
    )

    wait_rolled_out(executor, target, "3")  # the v1 ReplicaSet is reused under a new revision

    def v1_running_again() -> bool:
        return running_images(kubectl, kube_namespace, "checkout") == [[V1], [V1]]

    eventually("only v1 pods run again", v1_running_again, PODS_TIMEOUT)
    assert sorted(replica_sets(kubectl, kube_namespace, "checkout")) == ["2", "3"]


def test_rollback_to_a_pinned_image(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(
        kubectl, deployment(kube_namespace, "multi", image=V2, sidecar="registry.invalid/proxy:1")
    )
    apply(kubectl, deployment(kube_namespace, "single", image=V2))
    multi, single = ref(kube_namespace, "multi"), ref(kube_namespace, "single")

    with pytest.raises(ExecutorError, match=r"2 containers \(app, sidecar\)"):
        executor.rollback(multi, "inc-3/rollback/1", at(3), image=V1)
    with pytest.raises(ExecutorError, match=r"no container 'web' \(containers: app, sidecar\)"):
        executor.rollback(multi, "inc-3/rollback/1", at(3), image=V1, container="web")
    assert executor.target_state(multi).last_action is None

    message = executor.rollback(multi, "inc-3/rollback/1", at(3), image=V1, container="app")
    assert message == (
        f"rolled back Deployment {kube_namespace}/multi: container app pinned to image {V1}"
        f" (was {V2})"
    )
    state = executor.target_state(multi)
    assert state.images == {"app": V1, "sidecar": "registry.invalid/proxy:1"}
    assert state.last_action == "inc-3/rollback/1"

    executor.rollback(single, "inc-4/rollback/1", at(4), image=V1)
    assert executor.target_state(single).images == {"app": V1}

    def pinned_pods_run() -> bool:
        return running_images(kubectl, kube_namespace, "single") == [[V1]]

    eventually("the pinned image runs", pinned_pods_run, PODS_TIMEOUT)


def test_rollback_without_a_previous_revision_fails_and_leaves_no_marker(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout"))
    target = ref(kube_namespace, "checkout")
    eventually("revision 1", lambda: executor.target_state(target).revision == "1")

    with pytest.raises(ExecutorError, match="has no previous revision to roll back to") as raised:
        executor.rollback(target, "inc-5/rollback/1", at(5))
    assert f"Deployment {kube_namespace}/checkout" in str(raised.value)
    assert executor.target_state(target).last_action is None


def test_only_deployments_roll_back(kube_namespace: str, executor: KubernetesExecutor) -> None:
    target = ref(kube_namespace, "db", WorkloadKind.STATEFUL_SET)
    with pytest.raises(ExecutorError, match=f"StatefulSet {kube_namespace}/db") as raised:
        executor.rollback(target, "inc-6/rollback/1", at(6))
    assert not isinstance(raised.value, TargetNotFoundError)


# --- scale --------------------------------------------------------------------------------------


def test_scale_changes_replicas_and_sets_the_marker(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout"))
    target = ref(kube_namespace, "checkout")

    message = executor.scale(target, 3, "inc-7/scale/1", at(7))

    assert message == f"scaled Deployment {kube_namespace}/checkout from 1 to 3 replicas"
    document = get_json(kubectl, "deployment", "checkout", "-n", kube_namespace)
    assert document["spec"]["replicas"] == 3
    assert document["metadata"]["annotations"][MARKER_ANNOTATION] == "inc-7/scale/1"
    state = executor.target_state(target)
    assert (state.desired_replicas, state.last_action_at) == (3, at(7))

    def three_ready() -> bool:
        found = executor.target_state(target)
        return found.ready_replicas == 3 and found.rollout_complete

    eventually("three ready replicas", three_ready, PODS_TIMEOUT)
    assert len(pods_of(kubectl, kube_namespace, "checkout")) == 3

    daemon = ref(kube_namespace, "agent", WorkloadKind.DAEMON_SET)
    with pytest.raises(ExecutorError, match="a DaemonSet has no replicas"):
        executor.scale(daemon, 2, "inc-7/scale/2", at(7))


# --- delete pods --------------------------------------------------------------------------------


def running_pod_names(kubectl: Kubectl, namespace: str, app: str, count: int) -> list[str]:
    names: list[str] = []

    def running() -> bool:
        pods = pods_of(kubectl, namespace, app)
        names[:] = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
        return len(names) == count

    eventually(f"{count} running {app} pod(s)", running, PODS_TIMEOUT)
    return names


def test_delete_pods_deletes_only_pods_of_the_target(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout", replicas=2))
    apply(kubectl, deployment(kube_namespace, "payments"))
    target = ref(kube_namespace, "checkout")
    mine = running_pod_names(kubectl, kube_namespace, "checkout", 2)
    (other,) = running_pod_names(kubectl, kube_namespace, "payments", 1)
    other_uid = get_json(kubectl, "pod", other, "-n", kube_namespace)["metadata"]["uid"]

    with pytest.raises(
        ExecutorError, match=f"do not belong to .*: {other} \\(ReplicaSet payments-"
    ):
        executor.delete_pods(target, [mine[0], other], "inc-8/delete/1", at(8))
    assert sorted(running_pod_names(kubectl, kube_namespace, "checkout", 2)) == sorted(mine)
    assert get_json(kubectl, "pod", other, "-n", kube_namespace)["metadata"]["uid"] == other_uid
    assert executor.target_state(target).last_action is None

    message = executor.delete_pods(target, [mine[0], "ghost"], "inc-8/delete/2", at(8))

    assert message == (
        f"deleted 1 pod(s) of Deployment {kube_namespace}/checkout: {mine[0]};"
        " skipped (not found): ghost"
    )
    assert executor.target_state(target).last_action == "inc-8/delete/2"

    def replaced() -> bool:
        names = [p["metadata"]["name"] for p in pods_of(kubectl, kube_namespace, "checkout")]
        return mine[0] not in names and len(names) == 2

    eventually("the deleted pod is gone and replaced", replaced, PODS_TIMEOUT)
    assert mine[1] in [p["metadata"]["name"] for p in pods_of(kubectl, kube_namespace, "checkout")]


# --- missing things -----------------------------------------------------------------------------


def test_a_missing_target_raises_target_not_found(
    kube_namespace: str, executor: KubernetesExecutor
) -> None:
    missing = ref(kube_namespace, "nothing-here")
    calls = {
        "target_state": lambda: executor.target_state(missing),
        "rollout_restart": lambda: executor.rollout_restart(missing, "m", at(10)),
        "rollback": lambda: executor.rollback(missing, "m", at(10)),
        "scale": lambda: executor.scale(missing, 2, "m", at(10)),
        "delete_pods": lambda: executor.delete_pods(missing, ["a-pod"], "m", at(10)),
    }
    for name, attempt in calls.items():
        with pytest.raises(TargetNotFoundError, match=f"{kube_namespace}/nothing-here") as raised:
            attempt()
        assert "not found" in str(raised.value), name

    in_no_namespace = ref("no-such-namespace-xyz", "checkout", WorkloadKind.STATEFUL_SET)
    with pytest.raises(TargetNotFoundError, match="StatefulSet no-such-namespace-xyz/checkout"):
        executor.target_state(in_no_namespace)


def test_read_secret_decodes_data(
    kubectl: Kubectl, kube_namespace: str, executor: KubernetesExecutor
) -> None:
    kubectl(
        "create",
        "secret",
        "generic",
        "webhook",
        "-n",
        kube_namespace,
        "--from-literal=url=https://hooks.example/x?token=abc",
        "--from-literal=note=grüße",
    )

    assert executor.read_secret(kube_namespace, "webhook") == {
        "url": "https://hooks.example/x?token=abc",
        "note": "grüße",
    }
    with pytest.raises(ExecutorError, match=f"Secret {kube_namespace}/absent not found"):
        executor.read_secret(kube_namespace, "absent")


# --- events -------------------------------------------------------------------------------------


def test_event_recorder_creates_an_event_for_the_involved_object(
    kubectl: Kubectl, kube_namespace: str, api: client.ApiClient
) -> None:
    apply(kubectl, deployment(kube_namespace, "checkout"))
    uid = get_json(kubectl, "deployment", "checkout", "-n", kube_namespace)["metadata"]["uid"]
    recorder = EventRecorder(api)
    before = datetime.now(UTC)
    involved = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": kube_namespace,
        "name": "checkout",
        "uid": uid,
    }

    name = recorder.record(involved, "RolloutRestarted", "restarted by incident inc-1", "Normal")
    long_name = recorder.record(
        ref(kube_namespace, "checkout"), "RemediationFailed", "x" * 5000, "Warning"
    )

    assert name is not None
    assert name.startswith("checkout.")
    assert long_name is not None
    assert long_name != name
    selector = "involvedObject.kind=Deployment,involvedObject.name=checkout"
    events = {
        e["metadata"]["name"]: e
        for e in get_json(kubectl, "events", "-n", kube_namespace, "--field-selector", selector)[
            "items"
        ]
    }
    event = events[name]
    assert event["reason"] == "RolloutRestarted"
    assert event["message"] == "restarted by incident inc-1"
    assert event["type"] == "Normal"
    assert event["involvedObject"]["uid"] == uid
    assert event["source"]["component"] == "logsentinel-operator"
    assert event["reportingComponent"] == "logsentinel-operator"
    for stamp in ("firstTimestamp", "lastTimestamp", "eventTime"):
        recorded = datetime.fromisoformat(event[stamp])
        assert abs((recorded - before).total_seconds()) < 60, stamp
    warning = events[long_name]
    assert warning["type"] == "Warning"
    assert len(warning["message"]) == 1024
    assert warning["message"].endswith("...")

    listing = kubectl("get", "events", "-n", kube_namespace).stdout
    assert "RolloutRestarted" in listing
    assert "deployment/checkout" in listing


def test_event_recorder_never_raises(kube_namespace: str, api: client.ApiClient) -> None:
    recorder = EventRecorder(api)
    gone = {"apiVersion": "v1", "kind": "Pod", "namespace": "no-such-namespace-xyz", "name": "p"}

    assert recorder.record(gone, "PodDeleted", "deleted", "Normal") is None
    assert recorder.record({"kind": "Pod"}, "PodDeleted", "no name", "Normal") is None
