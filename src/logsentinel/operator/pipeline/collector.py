"""The node agent: its ConfigMap, ServiceAccount, read-only RBAC and DaemonSet.

Both agents get the same DaemonSet around their own container: the container log directory
read-only, the buffer volume (a node directory or one claim per pod), the Kafka TLS Secret and
SASL env vars, tolerations, node selector, resources, and a grace period covering the agent's
last flush. :class:`AgentContainer` is what differs: image, configuration files, arguments,
health endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from logsentinel.domain.pipeline import AgentType, BufferType, LogPipelineSpec
from logsentinel.operator.pipeline import fluentbit, otelcollector
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
ROLES = {AgentType.FLUENT_BIT: "fluent-bit", AgentType.OTEL_COLLECTOR: "otel-collector"}
"""Name suffix of each agent's objects; switching agents prunes the other's."""
FLUENT_BIT_CONFIG_DIRECTORY = "/fluent-bit/etc"
"""The image's own configuration directory: fluent-bit.yaml names its files relative to it."""
COLLECTOR_CONFIG_DIRECTORY = "/etc/otelcol-logsentinel"
LOG_DIRECTORY = "/var/log"
EPHEMERAL_BUFFER_PATH = "/var/lib/logsentinel/fluent-bit"
"""Mount path of an ephemeral buffer volume (a hostPath buffer is mounted at its own path)."""

FLUENT_BIT_HTTP_PORT = 2020
FLUENT_BIT_HEALTH_PATH = "/api/v1/health"
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True)
class AgentMetrics:
    """Where an agent serves its Prometheus metrics, and the counter of the lines it dropped
    (read them and could not buffer them)."""

    port: int
    path: str
    dropped_records: tuple[str, ...]
    """The counter families (names without ``_total``) whose samples, summed, count the lines
    the agent lost."""


AGENT_METRICS = {
    AgentType.OTEL_COLLECTOR: AgentMetrics(
        otelcollector.METRICS_PORT,
        otelcollector.METRICS_PATH,
        otelcollector.DROPPED_RECORDS_METRICS,
    ),
    # Fluent Bit counts here the records of chunks it discarded to stay under
    # storage.total_limit_size, and those whose retries ran out.
    AgentType.FLUENT_BIT: AgentMetrics(
        FLUENT_BIT_HTTP_PORT, "/api/v2/metrics/prometheus", ("fluentbit_output_dropped_records",)
    ),
}
TERMINATION_MARGIN_SECONDS = 15
"""Time beyond the agent's own shutdown grace for the last flush before the kubelet kills it."""


@dataclass(frozen=True)
class AgentContainer:
    """What one agent puts into the shared DaemonSet."""

    name: str
    files: dict[str, str]
    config_directory: str
    args: list[str]
    port: int
    health_path: str
    grace_seconds: int
    env: list[dict[str, Any]] = field(default_factory=list)


def storage_path(spec: LogPipelineSpec) -> str:
    """Where the buffer volume is mounted in the agent container."""
    if spec.buffer.type is BufferType.HOST_PATH and spec.buffer.host_path is not None:
        return spec.buffer.host_path.path
    return EPHEMERAL_BUFFER_PATH


def role_of(spec: LogPipelineSpec) -> str:
    return ROLES[spec.agent.type]


def agent_container(spec: LogPipelineSpec, *, client_certificate: bool) -> AgentContainer:
    """The chosen agent's container parts."""
    path = storage_path(spec)
    if spec.agent.type is AgentType.OTEL_COLLECTOR:
        return AgentContainer(
            name="otel-collector",
            files=otelcollector.collector_files(
                spec, storage_path=path, client_certificate=client_certificate
            ),
            config_directory=COLLECTOR_CONFIG_DIRECTORY,
            args=[f"--config=file:{COLLECTOR_CONFIG_DIRECTORY}/{otelcollector.CONFIG_FILE}"],
            port=otelcollector.HEALTH_PORT,
            health_path=otelcollector.HEALTH_PATH,
            grace_seconds=otelcollector.SHUTDOWN_GRACE_SECONDS,
            env=[
                {
                    "name": otelcollector.NODE_NAME_ENV,
                    "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                }
            ],
        )
    files = fluentbit.fluent_bit_files(
        spec, storage_path=path, client_certificate=client_certificate
    )
    return AgentContainer(
        name="fluent-bit",
        files=files,
        config_directory=FLUENT_BIT_CONFIG_DIRECTORY,
        args=["-c", f"{FLUENT_BIT_CONFIG_DIRECTORY}/{fluentbit.CONFIG_FILE}"],
        port=FLUENT_BIT_HTTP_PORT,
        health_path=FLUENT_BIT_HEALTH_PATH,
        grace_seconds=_fluent_bit_grace_seconds(files),
    )


def collector_objects(
    owner: Owner, spec: LogPipelineSpec, *, client_certificate: bool = False
) -> list[dict[str, Any]]:
    """ConfigMap, ServiceAccount, ClusterRole, ClusterRoleBinding, DaemonSet (apply order)."""
    agent = agent_container(spec, client_certificate=client_certificate)
    name = owner.object_name(role_of(spec))
    role = owner.cluster_name(role_of(spec))
    return [
        config_map(owner.metadata(name, COMPONENT), agent.files),
        service_account(owner.metadata(name, COMPONENT)),
        cluster_role(owner.cluster_metadata(role, COMPONENT), collector_rules(spec)),
        cluster_role_binding(owner.cluster_metadata(role, COMPONENT), role, name, owner.namespace),
        daemon_set(owner, spec, agent),
    ]


def collector_rules(spec: LogPipelineSpec) -> list[dict[str, Any]]:
    """What the agent's Kubernetes metadata lookup reads: pods and namespaces, and for the
    collector the ReplicaSets it follows from a pod to its Deployment."""
    rules = [rule("", ["pods", "namespaces"], ["get", "list", "watch"])]
    if spec.agent.type is AgentType.OTEL_COLLECTOR:
        rules.append(rule("apps", ["replicasets"], ["get", "list", "watch"]))
    return rules


def daemon_set(owner: Owner, spec: LogPipelineSpec, agent: AgentContainer) -> dict[str, Any]:
    name = owner.object_name(role_of(spec))
    settings = spec.agent
    tls_volumes, tls_mounts = tls_volume(spec.kafka)
    container: dict[str, Any] = {
        "name": agent.name,
        "image": settings.image_or_default,
        "args": agent.args,
        "ports": _ports(agent.port, AGENT_METRICS[settings.type].port),
        "resources": resources_of(settings.resources.to_wire()),
        "volumeMounts": [
            {"name": "config", "mountPath": agent.config_directory, "readOnly": True},
            {"name": "varlog", "mountPath": LOG_DIRECTORY, "readOnly": True},
            {"name": "buffer", "mountPath": storage_path(spec)},
            *tls_mounts,
        ],
        "livenessProbe": _health_probe(agent, failures=6),
        "readinessProbe": _health_probe(agent, failures=3),
    }
    env = [*agent.env, *sasl_env(spec.kafka)]
    if env:
        container["env"] = env
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "terminationGracePeriodSeconds": agent.grace_seconds + TERMINATION_MARGIN_SECONDS,
        "tolerations": [toleration.to_wire() for toleration in settings.tolerations],
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": name}},
            {"name": "varlog", "hostPath": {"path": LOG_DIRECTORY}},
            buffer_volume(owner, spec),
            *tls_volumes,
        ],
    }
    if settings.node_selector:
        pod_spec["nodeSelector"] = dict(settings.node_selector)
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
                    "annotations": {CONFIG_HASH: content_hash(agent.files)},
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


def _ports(http: int, metrics: int) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": http, "protocol": "TCP"}]
    if metrics != http:
        ports.append({"name": METRICS_PORT_NAME, "containerPort": metrics, "protocol": "TCP"})
    return ports


def _health_probe(agent: AgentContainer, *, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": agent.health_path, "port": agent.port},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _fluent_bit_grace_seconds(files: dict[str, str]) -> int:
    """service.grace of the rendered configuration (Fluent Bit's shutdown flush time)."""
    grace = yaml.safe_load(files[fluentbit.CONFIG_FILE])["service"].get("grace", 5)
    return int(grace)
