"""The collector: Fluent Bit's ConfigMap, ServiceAccount, read-only RBAC and DaemonSet."""

from __future__ import annotations

from typing import Any

import yaml

from logsentinel.domain.pipeline import BufferType, LogPipelineSpec
from logsentinel.operator.pipeline.fluentbit import CONFIG_FILE, fluent_bit_files
from logsentinel.operator.pipeline.kafka import sasl_env, tls_volume
from logsentinel.operator.pipeline.objects import (
    CONFIG_HASH,
    Component,
    Owner,
    cluster_role,
    cluster_role_binding,
    config_map,
    content_hash,
    resources_of,
    rule,
    service_account,
)

COMPONENT = Component.COLLECTOR
ROLE = "fluent-bit"
CONFIG_DIRECTORY = "/fluent-bit/etc"
LOG_DIRECTORY = "/var/log"
EPHEMERAL_BUFFER_PATH = "/var/lib/logsentinel/fluent-bit"
"""Mount path of an ephemeral buffer volume (a hostPath buffer is mounted at its own path)."""

HTTP_PORT = 2020
HEALTH_PATH = "/api/v1/health"
TERMINATION_MARGIN_SECONDS = 15
"""Time beyond Fluent Bit's own grace for the last flush before the kubelet kills it."""


def storage_path(spec: LogPipelineSpec) -> str:
    """Where the buffer volume is mounted in the Fluent Bit container."""
    if spec.buffer.type is BufferType.HOST_PATH and spec.buffer.host_path is not None:
        return spec.buffer.host_path.path
    return EPHEMERAL_BUFFER_PATH


def collector_objects(
    owner: Owner, spec: LogPipelineSpec, *, client_certificate: bool = False
) -> list[dict[str, Any]]:
    """ConfigMap, ServiceAccount, ClusterRole, ClusterRoleBinding, DaemonSet (apply order)."""
    name = owner.object_name(ROLE)
    files = fluent_bit_files(
        spec, storage_path=storage_path(spec), client_certificate=client_certificate
    )
    role = owner.cluster_name(ROLE)
    return [
        config_map(owner.metadata(name, COMPONENT), files),
        service_account(owner.metadata(name, COMPONENT)),
        cluster_role(owner.cluster_metadata(role, COMPONENT), collector_rules()),
        cluster_role_binding(owner.cluster_metadata(role, COMPONENT), role, name, owner.namespace),
        daemon_set(owner, spec, files),
    ]


def collector_rules() -> list[dict[str, Any]]:
    """What Fluent Bit's kubernetes filter reads: pod metadata and namespace labels."""
    return [rule("", ["pods", "namespaces"], ["get", "list", "watch"])]


def daemon_set(owner: Owner, spec: LogPipelineSpec, files: dict[str, str]) -> dict[str, Any]:
    name = owner.object_name(ROLE)
    fluent_bit = spec.fluent_bit
    tls_volumes, tls_mounts = tls_volume(spec.kafka)
    container: dict[str, Any] = {
        "name": "fluent-bit",
        "image": fluent_bit.image,
        "args": ["-c", f"{CONFIG_DIRECTORY}/{CONFIG_FILE}"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "resources": resources_of(fluent_bit.resources.to_wire()),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIRECTORY, "readOnly": True},
            {"name": "varlog", "mountPath": LOG_DIRECTORY, "readOnly": True},
            {"name": "buffer", "mountPath": storage_path(spec)},
            *tls_mounts,
        ],
        "livenessProbe": _health_probe(failures=6),
        "readinessProbe": _health_probe(failures=3),
    }
    env = sasl_env(spec.kafka)
    if env:
        container["env"] = env
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "terminationGracePeriodSeconds": _grace_seconds(files) + TERMINATION_MARGIN_SECONDS,
        "tolerations": [toleration.to_wire() for toleration in fluent_bit.tolerations],
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": name}},
            {"name": "varlog", "hostPath": {"path": LOG_DIRECTORY}},
            buffer_volume(owner, spec),
            *tls_volumes,
        ],
    }
    if fluent_bit.node_selector:
        pod_spec["nodeSelector"] = dict(fluent_bit.node_selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": owner.metadata(name, COMPONENT),
        "spec": {
            "selector": {"matchLabels": owner.selector(COMPONENT)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "labels": owner.labels(COMPONENT),
                    "annotations": {CONFIG_HASH: content_hash(files)},
                },
                "spec": pod_spec,
            },
        },
    }


def buffer_volume(owner: Owner, spec: LogPipelineSpec) -> dict[str, Any]:
    """The node directory, or a generic ephemeral volume (one PVC per pod)."""
    ephemeral = spec.buffer.ephemeral
    if spec.buffer.type is BufferType.HOST_PATH or ephemeral is None:
        return {
            "name": "buffer",
            "hostPath": {"path": storage_path(spec), "type": "DirectoryOrCreate"},
        }
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": ephemeral.size}},
    }
    if ephemeral.storage_class_name is not None:
        claim["storageClassName"] = ephemeral.storage_class_name
    template = {"metadata": {"labels": owner.labels(COMPONENT)}, "spec": claim}
    return {"name": "buffer", "ephemeral": {"volumeClaimTemplate": template}}


def _health_probe(*, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": HTTP_PORT},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _grace_seconds(files: dict[str, str]) -> int:
    """service.grace of the rendered configuration (Fluent Bit's shutdown flush time)."""
    grace = yaml.safe_load(files[CONFIG_FILE])["service"].get("grace", 5)
    return int(grace)
