"""Rollouts read from the logs themselves: a Deployment's new pod-template-hash is a new revision.

The authority is the pod's ``pod-template-hash`` label, which the Deployment controller puts on
every pod of a ReplicaSet and which records carry among their pod labels (Fluent Bit's
kubernetes filter sends all of them). The Deployment is then the pod name's part before
``-<hash>-``. Only without the label (a collector that sends no pod labels, an ingest record) is
the revision guessed from the name: Deployment pods are named
``<deployment>-<pod-template-hash>-<5 characters>``, with the rule in
:mod:`logsentinel.parsing.workload` (which detection may not import), so keep the pattern below
in step with ``_DEPLOYMENT_POD`` there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DEPLOYMENT_POD = re.compile(rf"^(.+)-([{_HASH_ALPHABET}]{{6,10}})-[a-z0-9]{{5}}$")
TEMPLATE_HASH_LABEL = "pod-template-hash"

MAX_DEPLOYMENTS = 64
MAX_HASHES_PER_DEPLOYMENT = 32


@dataclass(frozen=True)
class PodRevision:
    """The Deployment a pod belongs to and the pod-template-hash of its ReplicaSet."""

    deployment: str
    template_hash: str


@functools.lru_cache(maxsize=4096)
def pod_revision(pod_name: str, template_hash: str | None = None) -> PodRevision | None:
    """The revision of a Deployment pod: from its pod-template-hash label when given, else as
    its name tells; None for any other pod."""
    if template_hash:
        deployment, separator, _ = pod_name.rpartition(f"-{template_hash}-")
        return PodRevision(deployment or pod_name, template_hash) if separator else None
    match = _DEPLOYMENT_POD.match(pod_name)
    if match is None:
        return None
    return PodRevision(deployment=match.group(1), template_hash=match.group(2))


class RolloutTracker:
    """The pod-template-hashes seen per Deployment, and when each rollout began.

    Hashes are tracked per Deployment rather than per group key: a service made of several
    Deployments (web and worker sharing an ``app`` label) would otherwise take the first record
    of its second Deployment for a rollout. The first hash seen for a Deployment is where
    watching began, not a rollout; every later new hash is one, starting at the earliest record
    of that hash (records of several pods arrive slightly out of order).
    """

    def __init__(self) -> None:
        # deployment -> hash -> rollout start; None for the hash that was running when we began
        self._hashes: dict[str, dict[str, datetime | None]] = {}

    def observe(self, pod_name: str, at: datetime, template_hash: str | None = None) -> None:
        """One record of ``pod_name`` at ``at``; ``template_hash``: its pod-template-hash
        label, when the record carries pod labels."""
        revision = pod_revision(pod_name, template_hash)
        if revision is None:
            return
        hashes = self._hashes.get(revision.deployment)
        if hashes is None:
            if len(self._hashes) >= MAX_DEPLOYMENTS:
                del self._hashes[next(iter(self._hashes))]
            hashes = self._hashes[revision.deployment] = {}
        if revision.template_hash not in hashes:
            if len(hashes) >= MAX_HASHES_PER_DEPLOYMENT:
                del hashes[next(iter(hashes))]
            hashes[revision.template_hash] = at if hashes else None
            return
        started = hashes[revision.template_hash]
        if started is not None and at < started:
            hashes[revision.template_hash] = at

    def rollout_within(self, at: datetime, period: timedelta) -> bool:
        """Whether a rollout began at most period before at (and not after it)."""
        return any(
            started is not None and started <= at <= started + period
            for hashes in self._hashes.values()
            for started in hashes.values()
        )
