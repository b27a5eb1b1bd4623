"""Kopf registrations for LogPipeline: render, apply, prune, create the Kafka topics, report.

- create/update/resume: validate with the domain model (Ready=False InvalidSpec naming the field
  otherwise), check the Secrets the spec names, make sure the topic and its dead-letter topic
  exist, then server-side apply everything render() returns and prune what it no longer returns.
- a timer keeps status current: collectors desired/ready, processors ready, and the Ready,
  Progressing and Degraded conditions; every DROP_CHECK_INTERVAL it also reads the agents'
  dropped-lines counters, and lines dropped since the last reading become a Warning Event
  (AgentDroppedRecords), the logsentinel_pipeline_dropped_records_total metric,
  status.droppedRecords and Degraded=True (RecordsDropped) for DROPPING_WINDOW.
- delete: namespaced objects go with their owner reference; cluster-scoped RBAC is deleted here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import kopf
import structlog

from logsentinel.domain.common import DEGRADED, GROUP_VERSION, PROGRESSING, READY, wire_condition
from logsentinel.domain.errors import InvalidResourceError
from logsentinel.domain.pipeline import AgentDropCounter
from logsentinel.domain.resources import LogPipeline
from logsentinel.kafka_admin import KafkaAdminError, ensure_topic
from logsentinel.kube.client import ApiClient
from logsentinel.kube.errors import KubeError
from logsentinel.operator import metrics
from logsentinel.operator.pipeline.agent_drops import AgentPod, count_drops, read_dropped
from logsentinel.operator.pipeline.collector import AGENT_METRICS
from logsentinel.operator.pipeline.collector import COMPONENT as COLLECTOR
from logsentinel.operator.pipeline.credentials import admin_security, has_client_certificate
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.objects import Owner
from logsentinel.operator.pipeline.reconcile import Observed, PipelineReconciler
from logsentinel.operator.pipeline.render import render, workload_names
from logsentinel.operator.validation import manifest

log = structlog.get_logger("logsentinel.operator")

GROUP, VERSION = GROUP_VERSION.split("/")
PLURAL = LogPipeline.INFO.plural
STATUS_INTERVAL = 5.0
DROP_CHECK_INTERVAL = 15.0
"""Seconds between two readings of the agents' dropped-lines counters."""
DROPPING_WINDOW = timedelta(minutes=5)
"""A pipeline stays Degraded this long after its agents last dropped lines."""
DROPS_CHECKED_AT = "drops_checked_at"
"""The per-pipeline memo key of the last reading's time (monotonic seconds)."""


@dataclass
class PipelineRuntime:
    reconciler: PipelineReconciler
    central_namespace: str
    agent_http: httpx.Client = field(default_factory=httpx.Client)


PIPELINE_RUNTIME: PipelineRuntime | None = None


def configure(api_client: ApiClient, central_namespace: str) -> None:
    global PIPELINE_RUNTIME
    PIPELINE_RUNTIME = PipelineRuntime(PipelineReconciler(api_client), central_namespace)


def runtime() -> PipelineRuntime:
    if PIPELINE_RUNTIME is None:
        raise RuntimeError("the LogPipeline runtime is not configured")
    return PIPELINE_RUNTIME


def reconciler() -> PipelineReconciler:
    return runtime().reconciler


def _now() -> datetime:
    return datetime.now(UTC)


def _conditions(
    body: kopf.Body,
    ready: tuple[bool, str, str],
    progressing: tuple[bool, str, str],
    degraded: tuple[bool, str, str],
) -> list[dict[str, Any]]:
    previous = list((body.get("status") or {}).get("conditions") or [])
    generation = body.get("metadata", {}).get("generation")
    now = _now()
    return [
        wire_condition(kind, *judged, generation=generation, previous=previous, now=now)
        for kind, judged in ((READY, ready), (PROGRESSING, progressing), (DEGRADED, degraded))
    ]


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def pipeline_changed(
    body: kopf.Body, patch: kopf.Patch, namespace: str | None, name: str, **_: Any
) -> None:
    namespace = namespace or "default"
    generation = body.get("metadata", {}).get("generation")
    patch.status["observedGeneration"] = generation
    try:
        pipeline = LogPipeline.from_manifest(manifest(dict(body)), f"LogPipeline {name}")
        objects = render(
            pipeline,
            client_certificate=_client_certificate(pipeline, namespace),
            central_namespace=runtime().central_namespace,
        )
    except InvalidResourceError as error:
        _refuse(body, patch, "InvalidSpec", error.one_line())
        return
    except PipelineRenderError as error:
        _refuse(body, patch, "InvalidSpec", str(error))
        return
    reason, problems = _problems(pipeline, namespace)
    applied = reconciler().apply(objects)
    pruned = reconciler().prune(namespace, name, objects)
    log.info(
        "pipeline applied", pipeline=f"{namespace}/{name}", objects=len(applied), pruned=pruned
    )
    if problems:
        message = "; ".join(problems)
        kopf.event(body, type="Warning", reason=reason, message=message[:1024])
        patch.status["conditions"] = _conditions(
            body,
            (False, reason, message),
            (True, "Applied", f"{len(applied)} objects applied"),
            (True, reason, message),
        )
        return
    patch.status["conditions"] = _conditions(
        body,
        (False, "Progressing", "objects applied; waiting for collectors and processors"),
        (True, "Applied", f"{len(applied)} objects applied"),
        (False, "AsExpected", ""),
    )


def _refuse(body: kopf.Body, patch: kopf.Patch, reason: str, message: str) -> None:
    kopf.event(body, type="Warning", reason=reason, message=message[:1024])
    patch.status["conditions"] = _conditions(
        body, (False, reason, message), (False, reason, "not applied"), (True, reason, message)
    )


def _problems(pipeline: LogPipeline, namespace: str) -> tuple[str, list[str]]:
    """What keeps the pipeline from working that is not in its spec: (reason, problems)."""
    problems = reconciler().missing_secrets(namespace, _secret_refs(pipeline))
    if problems:
        return "SecretMissing", problems
    try:
        _ensure_topics(pipeline, namespace)
    except PipelineRenderError as error:
        return "SecretInvalid", [str(error)]
    except KafkaAdminError as error:
        return "KafkaUnreachable", [f"spec.kafka: {error}"]
    return "AsExpected", []


def _client_certificate(pipeline: LogPipeline, namespace: str) -> bool:
    tls = pipeline.spec.kafka.tls
    if tls is None:
        return False
    data = reconciler().read_secret(namespace, tls.secret_ref.name)
    return data is not None and has_client_certificate(data)


def _secret_refs(pipeline: LogPipeline) -> list[tuple[str, str]]:
    spec = pipeline.spec
    refs = [("spec.processors.databaseSecretRef", spec.processors.database_secret_ref.name)]
    if spec.kafka.tls is not None:
        refs.append(("spec.kafka.tls.secretRef", spec.kafka.tls.secret_ref.name))
    if spec.kafka.sasl is not None:
        refs.append(("spec.kafka.sasl.secretRef", spec.kafka.sasl.secret_ref.name))
    return refs


def _ensure_topics(pipeline: LogPipeline, namespace: str) -> None:
    kafka = pipeline.spec.kafka
    read = reconciler().read_secret
    security = admin_security(
        kafka,
        read(namespace, kafka.tls.secret_ref.name) if kafka.tls else None,
        read(namespace, kafka.sasl.secret_ref.name) if kafka.sasl else None,
    )
    bootstrap = ",".join(kafka.bootstrap_servers)
    for topic, partitions in ((kafka.topic, kafka.partitions), (f"{kafka.topic}-dead-letters", 1)):
        ensure_topic(
            bootstrap, topic, partitions, kafka.replication_factor, security=security, timeout=5
        )


@kopf.timer(GROUP, VERSION, PLURAL, interval=STATUS_INTERVAL, initial_delay=1.0)
def pipeline_status(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    namespace: str | None,
    name: str,
    **_: Any,
) -> None:
    status = body.get("status") or {}
    conditions = status.get("conditions") or []
    try:
        pipeline = LogPipeline.from_manifest(manifest(dict(body)), f"LogPipeline {name}")
    except InvalidResourceError:
        return  # reported by pipeline_changed; only a new spec changes that
    # Before the problems: agents drop lines exactly when Kafka is unreachable.
    drops = _check_drops(body, pipeline, namespace or "default", memo)
    if drops:
        patch.status.update(drops)
    reason, problems = _problems(pipeline, namespace or "default")
    if problems:
        message = "; ".join(problems)
        degraded = _conditions(
            body, (False, reason, message), (False, reason, message), (True, reason, message)
        )
        if _changed(conditions, degraded):
            kopf.event(body, type="Warning", reason=reason, message=message[:1024])
            patch.status["conditions"] = degraded
        return
    try:
        observed = reconciler().observe(
            namespace or "default", *workload_names(pipeline, namespace or "default")
        )
    except KubeError:
        return  # not applied yet
    counts = {
        "collectors": {"desired": observed.collectors_desired, "ready": observed.collectors_ready},
        "processors": {"desired": observed.processors_desired, "ready": observed.processors_ready},
    }
    last_drop = drops.get("lastDropTime") or status.get("lastDropTime")
    ready = observed.ready
    message = _summary(observed)
    new_conditions = _conditions(
        body,
        (ready, "Ready" if ready else "Progressing", message),
        (not ready, "RollingOut" if not ready else "Complete", message),
        _dropping(pipeline, last_drop),
    )
    if counts != {k: status.get(k) for k in counts} or _changed(conditions, new_conditions):
        patch.status.update(counts)
        patch.status["conditions"] = new_conditions


def _check_drops(
    body: kopf.Body, pipeline: LogPipeline, namespace: str, memo: kopf.Memo
) -> dict[str, Any]:
    """Read the agents' dropped-lines counters (at most every DROP_CHECK_INTERVAL): the status
    fields that changed; new drops also become an Event and the metric."""
    now = time.monotonic()
    if now - float(memo.get(DROPS_CHECKED_AT, float("-inf"))) < DROP_CHECK_INTERVAL:
        return {}
    memo[DROPS_CHECKED_AT] = now
    owner = Owner.of(pipeline, namespace)
    endpoint = AGENT_METRICS[pipeline.spec.agent.type]
    try:
        listed = reconciler().pods(namespace, owner.selector(COLLECTOR))
    except KubeError:
        return {}
    pods = [pod for pod in map(AgentPod.of, listed) if pod is not None]
    status = body.get("status") or {}
    previous = [AgentDropCounter.model_validate(c) for c in status.get("agentCounters") or []]
    http = runtime().agent_http
    count = count_drops(previous, ((pod, read_dropped(http, pod, endpoint)) for pod in pods))
    counters = [counter.to_wire() for counter in count.counters]
    if not count.total:
        return {"agentCounters": counters} if counters != status.get("agentCounters") else {}
    nodes = {pod.name: pod.node for pod in pods}
    where = ", ".join(f"{pod} on {nodes[pod]}: {n}" for pod, n in sorted(count.new.items()))
    message = (
        f"the agents dropped {count.total} log lines since the last check ({where}): the disk "
        f"buffer is full (Kafka unreachable for longer than spec.buffer.totalLimitSize="
        f"{pipeline.spec.buffer.total_limit_size} holds) or the agent is at its memory limit; "
        "the agent's log says which"
    )
    kopf.event(body, type="Warning", reason="AgentDroppedRecords", message=message[:1024])
    log.warning(
        "agents dropped lines",
        pipeline=f"{namespace}/{owner.name}",
        dropped=count.total,
        pods=count.new,
    )
    metrics.PIPELINE_DROPPED_RECORDS.labels(namespace, owner.name).inc(count.total)
    return {
        "agentCounters": counters,
        "droppedRecords": int(status.get("droppedRecords") or 0) + count.total,
        "lastDropTime": _now().isoformat(),
    }


def _dropping(pipeline: LogPipeline, last_drop: str | None) -> tuple[bool, str, str]:
    """The Degraded judgement: True while the agents dropped lines within DROPPING_WINDOW."""
    if last_drop is None or _now() - datetime.fromisoformat(last_drop) > DROPPING_WINDOW:
        return False, "AsExpected", ""
    return (
        True,
        "RecordsDropped",
        f"the agents dropped log lines at {last_drop} (status.droppedRecords counts them): "
        f"raise spec.buffer.totalLimitSize ({pipeline.spec.buffer.total_limit_size}) to outlast "
        "longer Kafka outages, or the agent's memory limit",
    )


def _summary(observed: Observed) -> str:
    return (
        f"collectors {observed.collectors_ready}/{observed.collectors_desired} ready, "
        f"processors {observed.processors_ready}/{observed.processors_desired} ready"
    )


def _changed(old: list[Any], new: list[dict[str, Any]]) -> bool:
    def essence(items: list[Any]) -> list[tuple[Any, ...]]:
        return [(c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in items]

    return essence(old) != essence(new)


@kopf.on.delete(GROUP, VERSION, PLURAL)
def pipeline_deleted(namespace: str | None, name: str, **_: Any) -> None:
    removed = reconciler().delete_cluster_scoped(namespace or "default", name)
    log.info("pipeline deleted", pipeline=f"{namespace}/{name}", removed=removed)
