"""The remediation engine's view of the world, backed by PostgreSQL and the Kubernetes API:
the audit log (hourly budgets), the processors' heartbeats (pipeline health), the stored rule
aggregates (verification) and notification delivery (webhook, SMTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
import structlog

from logsentinel.detection.watermarks import EVENT_TIME_GRACE
from logsentinel.domain.audit import OPERATOR_ACTOR, AuditEntry
from logsentinel.domain.playbook import CHANGING_STEPS, Step
from logsentinel.domain.resources import DetectionRule, Incident, Playbook
from logsentinel.operator.objects import Readable
from logsentinel.remediation import notify
from logsentinel.remediation.executor import Executor
from logsentinel.remediation.guards import Health
from logsentinel.remediation.outbound import OutboundPolicy
from logsentinel.remediation.verify import Verdict, assess
from logsentinel.storage import audit, buckets, health, incidents
from logsentinel.storage.urls import libpq_url

log = structlog.get_logger("logsentinel.operator")


def fill(message: str, incident: Incident) -> str:
    """Replace {incident}, {target}, {rule}, {severity}, {service} in a notify message."""
    spec = incident.spec
    values = {
        "incident": f"{incident.metadata.namespace}/{incident.metadata.name}",
        "target": str(spec.target) if spec.target else spec.service,
        "rule": spec.rule,
        "severity": spec.severity.value,
        "service": spec.service,
    }
    for name, value in values.items():
        message = message.replace("{" + name + "}", value)
    return message


class Database:
    """One connection shared by the operator's threads, reconnected after a failure."""

    def __init__(self, url: str) -> None:
        self._conninfo = libpq_url(url)
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(self._conninfo, autocommit=True)
            try:
                yield self._connection
            except psycopg.OperationalError:
                self._connection.close()
                self._connection = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()


class OperatorWorld:
    """Implements remediation.engine.World."""

    def __init__(
        self,
        database: Database,
        executor: Executor,
        rules: Readable,
        stale_after: timedelta,
        clock: Callable[[], datetime],
        outbound: OutboundPolicy,
    ) -> None:
        self.database = database
        self.executor = executor
        self.rules = rules
        self.stale_after = stale_after
        self.clock = clock
        self.outbound = outbound

    def actions_last_hour(self, playbook: str, now: datetime) -> int:
        kinds = [step.value for step in CHANGING_STEPS]
        with self.database.connection() as connection:
            return audit.count_actions(connection, playbook, kinds, now - timedelta(hours=1))

    def pipeline_health(self, max_lag: timedelta) -> Health:
        try:
            with self.database.connection() as connection:
                verdict = health.pipeline_health(connection, max_lag, self.stale_after)
        except psycopg.Error as error:
            return Health(False, f"cannot read pipeline heartbeats: {error}")
        return Health(verdict.healthy, verdict.reason)

    def signal(self, incident: Incident, since: datetime, now: datetime) -> Verdict:
        with self.database.connection() as connection:
            found = incidents.rule_and_group_key(
                connection, incident.metadata.name, incident.metadata.namespace or ""
            )
        if found is None:
            return Verdict(None, "the incident is not in the database: no aggregates to judge")
        rule_id, group_key = found
        rule_namespace, _, rule_name = rule_id.partition("/")
        try:
            rule = DetectionRule.model_validate(self.rules.get(rule_namespace, rule_name))
        except Exception as error:  # deleted or unreadable: no window to judge with
            return Verdict(None, f"cannot read DetectionRule {rule_id}: {error}")
        key = [str(group_key.get(field, "")) for field in rule.spec.detector.group_by]
        with self.database.connection() as connection:
            rows = buckets.recent_counts(connection, rule_id, key, since - timedelta(minutes=5))
        return assess(
            rows,
            incident.spec.evidence.window,
            rule.spec.detector.params.decision_window(),
            since,
            now - EVENT_TIME_GRACE,  # later buckets may still receive records in flight
        )

    def notify(self, incident: Incident, playbook: Playbook, step: Step, note: str) -> str:
        params = step.notify
        if params is None:
            raise notify.NotifyError(f"step {step.step_name} has no notify parameters")
        namespace = playbook.metadata.namespace or "default"
        message = fill(note or params.message or f"playbook {playbook.metadata.name}", incident)
        n = notify.notification_for(incident, message, playbook.metadata.name, step.step_name)
        done: list[str] = []
        if params.webhook is not None:
            url = params.webhook.url
            if url is None and params.webhook.url_secret_ref is not None:
                ref = params.webhook.url_secret_ref
                url = self._secret_key(namespace, ref.name, ref.key)
            if url is None:
                raise notify.NotifyError("webhook has neither url nor urlSecretRef")
            done.append(notify.send_webhook(url, n, params.retries, policy=self.outbound))
        if params.email is not None:
            data = self.executor.read_secret(namespace, params.email.smtp_secret_ref.name)
            settings = notify.SmtpSettings.from_secret(data)
            done.append(
                notify.send_email(
                    settings, list(params.email.to), n, params.retries, policy=self.outbound
                )
            )
        return "; ".join(done)

    def _secret_key(self, namespace: str, name: str, key: str) -> str:
        data = self.executor.read_secret(namespace, name)
        if key not in data:
            raise notify.NotifyError(f"Secret {namespace}/{name} has no key {key!r}")
        return data[key]

    def set_phase(self, namespace: str, name: str, phase: str) -> None:
        with self.database.connection() as connection:
            incidents.set_phase(connection, namespace, name, phase, OPERATOR_ACTOR)

    def record(self, entries: Sequence[AuditEntry]) -> None:
        with self.database.connection() as connection:
            audit.record(connection, entries)
