"""Every Kubernetes object a LogPipeline owns, as plain dicts in apply order.

Collector first (its ConfigMap before the DaemonSet that mounts it), then the processors.
Namespaced objects live in the pipeline's namespace and carry an owner reference to it, so
the garbage collector removes them with the pipeline; the cluster-scoped RBAC objects cannot
be owned by a namespaced object and are found by their labels instead.
"""

from __future__ import annotations

import re
from typing import Any

from logsentinel.domain.common import DEFAULT_CENTRAL_NAMESPACE
from logsentinel.domain.resources import LogPipeline
from logsentinel.operator.pipeline import processors
from logsentinel.operator.pipeline.collector import collector_objects, role_of
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.objects import Owner

LONGEST_SUFFIX = "-processor-metrics"
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_SERVICE_NAME = 63
MAX_NAME = MAX_SERVICE_NAME - len(LONGEST_SUFFIX)


def render(
    pipeline: LogPipeline,
    *,
    operator_namespace: str | None = None,
    client_certificate: bool = False,
    central_namespace: str = DEFAULT_CENTRAL_NAMESPACE,
) -> list[dict[str, Any]]:
    """The objects ``pipeline`` owns, in apply order.

    ``operator_namespace`` is used when the pipeline's metadata names no namespace (a
    manifest read from a file). ``client_certificate``: the Kafka TLS Secret holds
    tls.crt/tls.key too (known only to a caller that has read the Secret).
    ``central_namespace``: the operator's, passed on to the processors (whose DetectionRules
    alone may watch other namespaces).
    Raises PipelineRenderError naming the field when the spec cannot be deployed.
    """
    owner = Owner.of(pipeline, _namespace(pipeline, operator_namespace))
    check_name(owner.name)
    return [
        *collector_objects(owner, pipeline.spec, client_certificate=client_certificate),
        *processors.processor_objects(
            owner,
            pipeline.spec,
            client_certificate=client_certificate,
            central_namespace=central_namespace,
        ),
    ]


def workload_names(pipeline: LogPipeline, namespace: str) -> tuple[str, str]:
    """(collector DaemonSet, processors Deployment) names of ``pipeline``."""
    owner = Owner.of(pipeline, namespace)
    return owner.object_name(role_of(pipeline.spec)), owner.object_name(processors.ROLE)


def check_name(name: str) -> None:
    """The pipeline name must make a valid Service name ``<name>-processor-metrics``."""
    if len(name) > MAX_NAME or SERVICE_NAME.match(name) is None:
        raise PipelineRenderError(
            "metadata.name",
            f"{name!r} must start with a letter, contain only lowercase letters, digits and "
            f"'-', and be at most {MAX_NAME} characters (it names the Service "
            f"<name>{LONGEST_SUFFIX})",
        )


def _namespace(pipeline: LogPipeline, operator_namespace: str | None) -> str:
    namespace = pipeline.metadata.namespace or operator_namespace
    if namespace is None:
        raise PipelineRenderError("metadata.namespace", "is required to render the pipeline")
    return namespace
