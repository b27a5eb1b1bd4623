"""Writing incidents to Kubernetes: Incident objects and the firing counters of DetectionRules.

Every write is idempotent or guarded so that a processor replaying Kafka records after a
restart neither duplicates an Incident nor overwrites one an operator already moved on.
Transient apiserver failures are retried (see :mod:`logsentinel.kube.errors`) and then raised as
``KubeUnavailable``; refusals raise ``KubeRequestError`` with the apiserver's message.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from kubernetes import client

from logsentinel.domain.common import GROUP_VERSION
from logsentinel.domain.incident import Evidence, IncidentPhase, IncidentSpec
from logsentinel.domain.resources import DetectionRule, Incident
from logsentinel.domain.types import format_timestamp
from logsentinel.kube.errors import KubeConflictError, KubeNotFoundError, call

log = structlog.get_logger("logsentinel.kube")

GROUP, VERSION = GROUP_VERSION.split("/")
INCIDENTS = Incident.INFO.plural
RULES = DetectionRule.INFO.plural

CONFLICT_ATTEMPTS = 6
"""How often record_firing re-reads and retries after losing a race on the rule's status."""

CONFLICT_BACKOFF = 0.02
"""Seconds (times the attempt number, with jitter) before re-reading after a conflict."""

FIELD_MANAGER = "logsentinel-processor"


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp from an object, None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def merge_replacement(value: Any) -> Any:
    """A JSON merge patch value that replaces a whole sub-object.

    Merge patches merge nested objects key by key, so a key absent from the new value would
    survive from the old one; absent optional fields are therefore sent as null (delete).
    Lists replace wholesale and may not carry nulls, so inside lists nulls are dropped.
    """
    if isinstance(value, dict):
        return {key: merge_replacement(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


class IncidentPublisher:
    """Creates and updates Incident objects and DetectionRule firing statistics."""

    def __init__(self, api_client: client.ApiClient, *, request_timeout: float = 10.0) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._timeout = (min(request_timeout, 5.0), request_timeout)

    def create(self, namespace: str, name: str, spec: IncidentSpec, labels: dict[str, str]) -> bool:
        """Create the Incident with phase Open; True if created, False if it already existed.

        An existing Incident (a replay) is left as it is, except that a missing status phase
        (a create whose status write failed earlier) is completed with Open.
        """
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": Incident.INFO.kind,
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
        what = f"Incident {namespace}/{name}"
        try:
            call(
                f"create {what}",
                lambda: self._api.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    INCIDENTS,
                    body,
                    field_manager=FIELD_MANAGER,
                    _request_timeout=self._timeout,
                ),
            )
        except KubeConflictError:
            existing = self._get(INCIDENTS, namespace, name, f"read {what}")
            if (existing.get("status") or {}).get("phase"):
                log.debug("incident exists, left as is", namespace=namespace, name=name)
                return False
            self._patch_status(
                INCIDENTS, namespace, name, {"status": {"phase": IncidentPhase.OPEN.value}}
            )
            return False
        self._patch_status(
            INCIDENTS, namespace, name, {"status": {"phase": IncidentPhase.OPEN.value}}
        )
        return True

    def update_occurrences(
        self,
        namespace: str,
        name: str,
        occurrences: int,
        last_seen: datetime,
        evidence: Evidence | None,
    ) -> None:
        """Set occurrences and lastSeen (and replace the evidence when given)."""
        spec: dict[str, Any] = {"occurrences": occurrences, "lastSeen": format_timestamp(last_seen)}
        if evidence is not None:
            spec["evidence"] = merge_replacement(
                evidence.model_dump(mode="json", by_alias=True, exclude_none=False)
            )
        what = f"Incident {namespace}/{name}"
        call(
            f"update {what}",
            lambda: self._api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                INCIDENTS,
                name,
                {"spec": spec},
                field_manager=FIELD_MANAGER,
                _request_timeout=self._timeout,
            ),
        )

    def resolve(self, namespace: str, name: str, resolved_at: datetime, resolution: str) -> bool:
        """Mark the Incident Resolved; False when it no longer exists."""
        status = {
            "phase": IncidentPhase.RESOLVED.value,
            "resolvedAt": format_timestamp(resolved_at),
            "resolution": resolution,
        }
        try:
            self._patch_status(INCIDENTS, namespace, name, {"status": status})
        except KubeNotFoundError:
            log.info("incident to resolve is gone", namespace=namespace, name=name)
            return False
        return True

    def record_firing(self, namespace: str, rule_name: str, fired_at: datetime) -> bool:
        """Count one firing on the rule's status (lastFiredAt never goes backwards).

        Read-modify-write guarded by resourceVersion, retried when another writer got there
        first. False when the rule no longer exists.
        """
        what = f"DetectionRule {namespace}/{rule_name}"
        fired = fired_at.astimezone(UTC) if fired_at.tzinfo else None
        if fired is None:
            raise ValueError(f"fired_at {fired_at!r} has no time zone")
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                rule = self._get(RULES, namespace, rule_name, f"read {what}")
            except KubeNotFoundError:
                return False
            status = rule.get("status") or {}
            previous = parse_timestamp(status.get("lastFiredAt"))
            count = status.get("firedCount")
            count = count if isinstance(count, int) and count >= 0 else 0
            latest = fired if previous is None or fired > previous else previous
            patch = {
                "metadata": {"resourceVersion": (rule.get("metadata") or {})["resourceVersion"]},
                "status": {"lastFiredAt": format_timestamp(latest), "firedCount": count + 1},
            }
            try:
                self._patch_status(RULES, namespace, rule_name, patch)
            except KubeNotFoundError:
                return False
            except KubeConflictError:
                log.debug("rule status conflict, retrying", rule=what, attempt=attempt)
                time.sleep(CONFLICT_BACKOFF * attempt * (0.5 + random.random()))
                continue
            return True
        raise KubeConflictError(
            f"record firing on {what}",
            409,
            "Conflict",
            f"the status kept changing under us ({CONFLICT_ATTEMPTS} attempts)",
        )

    # --- helpers ------------------------------------------------------------------------------

    def _get(self, plural: str, namespace: str, name: str, operation: str) -> dict[str, Any]:
        found = call(
            operation,
            lambda: self._api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _request_timeout=self._timeout
            ),
        )
        if not isinstance(found, dict):
            raise TypeError(f"{operation}: unexpected answer {type(found).__name__}")
        return found

    def _patch_status(self, plural: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        kind = Incident.INFO.kind if plural == INCIDENTS else DetectionRule.INFO.kind
        call(
            f"patch status of {kind} {namespace}/{name}",
            lambda: self._api.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=self._timeout,
            ),
        )
