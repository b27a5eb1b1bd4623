"""The processors: ServiceAccount, RBAC, custom parsers ConfigMap, Deployment, metrics Service.

A processor is configured only through LOGSENTINEL_* environment variables (the processors'
settings); :func:`processor_environment` computes the plain ones, and
:func:`deployment_environment` turns a rendered Deployment back into the environment a
process gets, so that a test can start a real processor "as the Deployment would".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from logsentinel.domain.common import API_GROUP, DEFAULT_CENTRAL_NAMESPACE
from logsentinel.domain.pipeline import LogPipelineSpec
from logsentinel.domain.resources import DetectionRule, Incident, LogPipeline
from logsentinel.domain.types import quantity_value
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.kafka import (
    kubernetes_reference,
    librdkafka_security,
    sasl_env,
    secret_env,
    tls_volume,
)
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

COMPONENT = Component.PROCESSOR
ROLE = "processor"
CONTAINER = "processor"
COMMAND = ["logsentinel", "processor"]
METRICS_PORT = 9108
METRICS_PATH = "/metrics"
PARSERS_DIRECTORY = "/etc/logsentinel/parsers"
PARSERS_FILE = "parsers.yaml"
DEAD_LETTER_SUFFIX = "-dead-letters"
MAX_TOPIC_LENGTH = 249
MIN_RECORD_BYTES = 1024
"""The processors' settings refuse a smaller LOGSENTINEL_MAX_RECORD_BYTES."""

ENV = "LOGSENTINEL_"
# Processors need no privilege and write nothing but /tmp (an emptyDir): the product image's
# non-root user, a read-only root filesystem, no capabilities, the runtime's seccomp profile.
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def processor_objects(
    owner: Owner,
    spec: LogPipelineSpec,
    *,
    client_certificate: bool = False,
    central_namespace: str,
) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole, ClusterRoleBinding, parsers ConfigMap (when there are
    custom parsers), Deployment, metrics Service, in apply order. ``central_namespace``: the
    operator's, whose DetectionRules alone may watch other namespaces."""
    name = owner.object_name(ROLE)
    role = owner.cluster_name(ROLE)
    parsers = parser_files(spec)
    objects = [
        service_account(owner.metadata(name, COMPONENT)),
        cluster_role(owner.cluster_metadata(role, COMPONENT), processor_rules()),
        cluster_role_binding(owner.cluster_metadata(role, COMPONENT), role, name, owner.namespace),
    ]
    if parsers:
        objects.append(config_map(owner.metadata(parsers_name(owner), COMPONENT), parsers))
    objects.append(
        deployment(
            owner,
            spec,
            parsers,
            client_certificate=client_certificate,
            central_namespace=central_namespace,
        )
    )
    objects.append(metrics_service(owner))
    return objects


def processor_rules() -> list[dict[str, Any]]:
    """What the processors' Kubernetes adapters call (logsentinel.kube rules, incidents and
    owners): watch rules and count firings, create and update Incidents, resolve pod owners."""
    rules, incidents = DetectionRule.INFO.plural, Incident.INFO.plural
    return [
        rule(API_GROUP, [rules], ["get", "list", "watch"]),
        rule(API_GROUP, [f"{rules}/status"], ["patch"]),
        rule(API_GROUP, [incidents], ["get", "list", "watch", "create", "patch"]),
        rule(API_GROUP, [f"{incidents}/status"], ["patch"]),
        rule("", ["pods"], ["get"]),
        rule("apps", ["replicasets"], ["get"]),
    ]


def parsers_name(owner: Owner) -> str:
    return owner.object_name(f"{ROLE}-parsers")


def parser_files(spec: LogPipelineSpec) -> dict[str, str]:
    """The custom parsers ConfigMap data (empty without custom parsers): a YAML list of
    CustomParser in wire form, which the processor validates when it starts."""
    parsers = spec.processors.custom_parsers
    if not parsers:
        return {}
    document = [parser.to_wire() for parser in parsers]
    return {PARSERS_FILE: yaml.safe_dump(document, sort_keys=False, default_flow_style=False)}


def dead_letter_topic(spec: LogPipelineSpec) -> str:
    topic = spec.kafka.topic + DEAD_LETTER_SUFFIX
    if len(topic) > MAX_TOPIC_LENGTH:
        raise PipelineRenderError(
            "spec.kafka.topic",
            f"at most {MAX_TOPIC_LENGTH - len(DEAD_LETTER_SUFFIX)} characters, so that the "
            f"dead-letter topic <topic>{DEAD_LETTER_SUFFIX} is a valid topic name",
        )
    return topic


def max_record_bytes(spec: LogPipelineSpec) -> int:
    size = quantity_value(spec.processors.max_record_size)
    if size < MIN_RECORD_BYTES or size != size.to_integral_value():
        raise PipelineRenderError(
            "spec.processors.maxRecordSize",
            f"{spec.processors.max_record_size} must be a whole number of bytes, at least 1Ki",
        )
    return int(size)


def processor_environment(
    pipeline: LogPipeline,
    *,
    client_certificate: bool = False,
    central_namespace: str = DEFAULT_CENTRAL_NAMESPACE,
) -> dict[str, str]:
    """The processors' plain LOGSENTINEL_* settings for ``pipeline`` (see plain_environment)."""
    return plain_environment(
        pipeline.metadata.name,
        pipeline.spec,
        client_certificate=client_certificate,
        central_namespace=central_namespace,
    )


def plain_environment(
    pipeline_name: str,
    spec: LogPipelineSpec,
    *,
    client_certificate: bool = False,
    central_namespace: str,
) -> dict[str, str]:
    """The processors' plain LOGSENTINEL_* settings (secrets come from secretKeyRefs).

    LOGSENTINEL_KAFKA_SECURITY refers to the SASL credentials as ``$(KAFKA_SASL_...)``, which
    the kubelet expands from env vars set earlier from the Secret.
    """
    environment = {
        f"{ENV}KAFKA_BOOTSTRAP": ",".join(spec.kafka.bootstrap_servers),
        f"{ENV}KAFKA_TOPIC": spec.kafka.topic,
        f"{ENV}KAFKA_GROUP": f"logsentinel-{pipeline_name}",
        f"{ENV}DEAD_LETTER_TOPIC": dead_letter_topic(spec),
        f"{ENV}KUBERNETES": "true",
        f"{ENV}RULES_NAMESPACE": "",  # empty: DetectionRules of every namespace
        f"{ENV}CENTRAL_NAMESPACE": central_namespace,
        f"{ENV}MAX_RECORD_BYTES": str(max_record_bytes(spec)),
        f"{ENV}METRICS_PORT": str(METRICS_PORT),
    }
    security = librdkafka_security(
        spec.kafka, reference=kubernetes_reference, client_certificate=client_certificate
    )
    if security:
        environment[f"{ENV}KAFKA_SECURITY"] = json.dumps(security, sort_keys=True)
    if spec.processors.custom_parsers:
        environment[f"{ENV}CUSTOM_PARSERS_FILE"] = f"{PARSERS_DIRECTORY}/{PARSERS_FILE}"
    return environment


def processor_env(
    pipeline_name: str,
    spec: LogPipelineSpec,
    *,
    client_certificate: bool = False,
    central_namespace: str,
) -> list[dict[str, Any]]:
    """The container env list. Order matters: a value may refer to an earlier variable."""
    database = spec.processors.database_secret_ref
    referenced = [
        secret_env(f"{ENV}DATABASE_URL", database.name, database.key),
        *sasl_env(spec.kafka),
        {
            "name": f"{ENV}CONSUMER_ID",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        },
    ]
    plain = plain_environment(
        pipeline_name,
        spec,
        client_certificate=client_certificate,
        central_namespace=central_namespace,
    )
    return [*referenced, *({"name": key, "value": value} for key, value in plain.items())]


def deployment(
    owner: Owner,
    spec: LogPipelineSpec,
    parsers: dict[str, str],
    *,
    client_certificate: bool = False,
    central_namespace: str,
) -> dict[str, Any]:
    name = owner.object_name(ROLE)
    processors = spec.processors
    tls_volumes, tls_mounts = tls_volume(spec.kafka)
    volumes, mounts = list(tls_volumes), list(tls_mounts)
    if parsers:
        volumes.append({"name": "parsers", "configMap": {"name": parsers_name(owner)}})
        mounts.append({"name": "parsers", "mountPath": PARSERS_DIRECTORY, "readOnly": True})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": processors.image,
        "command": COMMAND,
        "env": processor_env(
            owner.name,
            spec,
            client_certificate=client_certificate,
            central_namespace=central_namespace,
        ),
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        # The metrics server starts once migrations are done: ready means serving. No
        # liveness probe: that server is a thread of its own, so it would only show the
        # process exists, which the kubelet already knows.
        "readinessProbe": {
            "httpGet": {"path": METRICS_PATH, "port": "metrics"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": resources_of(processors.resources.to_wire()),
        "securityContext": CONTAINER_SECURITY,
    }
    volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    container["volumeMounts"] = mounts
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "securityContext": POD_SECURITY,
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owner.metadata(name, COMPONENT),
        "spec": {
            "replicas": processors.replicas,
            "selector": {"matchLabels": owner.selector(COMPONENT)},
            "template": {
                "metadata": {
                    "labels": owner.labels(COMPONENT),
                    # Parsers are read at start-up only: a change must restart the pods.
                    "annotations": {CONFIG_HASH: content_hash(parsers)},
                },
                "spec": pod_spec,
            },
        },
    }


def metrics_service(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owner.metadata(owner.object_name(f"{ROLE}-metrics"), COMPONENT),
        "spec": {
            "selector": owner.selector(COMPONENT),
            "ports": [
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


# --- the environment a rendered Deployment gives its processes -----------------------------

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def deployment_environment(
    deployment: Mapping[str, Any],
    *,
    secrets: Mapping[tuple[str, str], str],
    fields: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment the kubelet would give the processor container of ``deployment``.

    ``secrets`` supplies secretKeyRef values by (secret name, key), ``fields`` fieldRef values
    by field path (``metadata.name``). ``$(NAME)`` references to earlier variables are
    expanded and ``$$`` stands for ``$``, as the kubelet does.
    """
    (container,) = (
        entry
        for entry in deployment["spec"]["template"]["spec"]["containers"]
        if entry["name"] == CONTAINER
    )
    resolved: dict[str, str] = {}
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            resolved[name] = _expand(str(variable["value"]), resolved)
        else:
            resolved[name] = _value_from(name, variable.get("valueFrom") or {}, secrets, fields)
    return resolved


def _expand(value: str, defined: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return defined.get(match[1], match[0])

    return _REFERENCE.sub(replace, value)


def _value_from(
    name: str,
    source: Mapping[str, Any],
    secrets: Mapping[tuple[str, str], str],
    fields: Mapping[str, str] | None,
) -> str:
    if "secretKeyRef" in source:
        reference = source["secretKeyRef"]
        key = (reference["name"], reference["key"])
        if key not in secrets:
            raise KeyError(f"{name}: no value given for Secret {key[0]} key {key[1]}")
        return secrets[key]
    if "fieldRef" in source:
        path = source["fieldRef"]["fieldPath"]
        if fields is None or path not in fields:
            raise KeyError(f"{name}: no value given for field {path}")
        return fields[path]
    raise ValueError(f"{name}: unsupported valueFrom {sorted(source)}")
