"""Service names: labels first, then the workload the pod name points at."""

from __future__ import annotations

import pytest

from logsentinel.parsing import service_name, workload_from_pod_name

POD_NAMES = [
    ("checkout-7d9f8b6c5d-x2x9k", "checkout"),  # Deployment
    ("payment-api-5f7c9d8b6-q2w3e", "payment-api"),  # Deployment, hyphenated name
    ("checkout-service-x2x9k", "checkout-service"),  # "service" is no ReplicaSet hash
    ("fluent-bit-abcde", "fluent-bit"),  # DaemonSet
    ("db-0", "db"),  # StatefulSet
    ("kafka-12", "kafka"),  # StatefulSet
    ("migrate-28471-hq7zt", "migrate-28471"),  # Job of a CronJob keeps its schedule suffix
    ("etcd", "etcd"),  # bare pod
    ("kube-apiserver-master-node-one", "kube-apiserver-master-node-one"),  # static pod
    # The known limit of name-only rules: a bare pod whose last part has five characters reads
    # as a generated suffix. Such pods are rare and usually labelled, and labels come first.
    ("api-proxy", "api"),
]


@pytest.mark.parametrize(("pod", "workload"), POD_NAMES)
def test_workload_from_pod_name(pod: str, workload: str) -> None:
    assert workload_from_pod_name(pod) == workload


def test_recommended_label_wins() -> None:
    labels = {"app.kubernetes.io/name": "shop-api", "app": "legacy"}
    assert service_name(labels, "whatever-7d9f8b6c5d-x2x9k") == "shop-api"


def test_app_label_is_second() -> None:
    assert service_name({"app": "legacy"}, "whatever-0") == "legacy"


def test_empty_labels_fall_back_to_the_workload() -> None:
    assert service_name({"app.kubernetes.io/name": "", "app": ""}, "db-3") == "db"
