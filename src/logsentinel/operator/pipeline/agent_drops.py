"""Counting the lines a pipeline's agents dropped.

Each agent pod serves a counter of the lines it read and could not buffer (its disk buffer
full, or the agent at its memory limit; :data:`collector.AGENT_METRICS` names it per agent).
The operator reads every agent pod's counter from the pod's metrics endpoint and adds what
grew since its last reading, which it keeps in the LogPipeline's status so an operator restart
counts nothing twice.

A counter starts at 0 with each container start: a reading is compared with the last one of
the same pod uid and restart count, and a new pod or restarted container counts its whole
counter. Drops between the last reading and a container's restart are not seen. A pod whose
endpoint does not answer keeps its last reading until it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx
import structlog
from prometheus_client.parser import text_string_to_metric_families

from logsentinel.domain.pipeline import AgentDropCounter
from logsentinel.domain.types import Json
from logsentinel.operator.pipeline.collector import AgentMetrics

log = structlog.get_logger("logsentinel.operator")

READ_TIMEOUT_SECONDS = 2.0
"""Per pod: an agent that does not answer this fast is read again at the next check."""


@dataclass(frozen=True)
class AgentPod:
    """What the count needs of one running agent pod."""

    name: str
    uid: str
    node: str
    ip: str
    restarts: int

    @classmethod
    def of(cls, pod: Json) -> AgentPod | None:
        """The pod as a Kubernetes object, or None when it has no address yet or is going."""
        status = pod.get("status") or {}
        ip = status.get("podIP")
        meta = pod["metadata"]
        if not ip or meta.get("deletionTimestamp") or status.get("phase") != "Running":
            return None
        statuses = status.get("containerStatuses") or []
        return cls(
            name=meta["name"],
            uid=meta["uid"],
            node=(pod.get("spec") or {}).get("nodeName") or "",
            ip=ip,
            restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
        )

    def url(self, metrics: AgentMetrics) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{metrics.port}{metrics.path}"


def dropped_in(exposition: str, counters: tuple[str, ...]) -> int:
    """The sum of the samples of these counter families in a Prometheus text exposition (an
    absent family counts 0: agents serve a counter once it first counts)."""
    names = {*counters, *(f"{counter}_total" for counter in counters)}
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        if family.name in names:
            total += sum(s.value for s in family.samples if not s.name.endswith("_created"))
    return int(total)


def read_dropped(client: httpx.Client, pod: AgentPod, metrics: AgentMetrics) -> int | None:
    """The pod's dropped-lines counter, or None when its endpoint cannot be read."""
    try:
        answer = client.get(pod.url(metrics), timeout=READ_TIMEOUT_SECONDS)
        answer.raise_for_status()
        return dropped_in(answer.text, metrics.dropped_records)
    except (httpx.HTTPError, ValueError) as error:
        log.debug("agent metrics unreadable", pod=pod.name, error=str(error))
        return None


@dataclass(frozen=True)
class DropCount:
    """The outcome of one check: the counters to keep and what each pod newly dropped."""

    counters: list[AgentDropCounter]
    new: dict[str, int]
    """Pod name -> lines dropped since the last reading (only pods that dropped some)."""

    @property
    def total(self) -> int:
        return sum(self.new.values())


def count_drops(
    previous: Sequence[AgentDropCounter], readings: Iterable[tuple[AgentPod, int | None]]
) -> DropCount:
    """Compare each pod's reading with its last one; pods that are gone are forgotten."""
    last = {counter.uid: counter for counter in previous}
    counters: list[AgentDropCounter] = []
    new: dict[str, int] = {}
    for pod, dropped in readings:
        before = last.get(pod.uid)
        if dropped is None:
            if before is not None:
                counters.append(before)
            continue
        same_process = before is not None and before.restarts == pod.restarts
        baseline = before.dropped if before is not None and same_process else 0
        grown = dropped - baseline if dropped >= baseline else dropped
        if grown:
            new[pod.name] = grown
        counters.append(
            AgentDropCounter(pod=pod.name, uid=pod.uid, restarts=pod.restarts, dropped=dropped)
        )
    return DropCount(counters, new)
