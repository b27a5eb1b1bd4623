"""`logsentinel operator`: wire the remediation engine to the cluster and run Kopf.

Peering: the peering object is created when missing (or the operator exits saying why it
cannot); replicas take distinct priorities (settings.priority) and Kopf pauses every replica but
the highest, so exactly one acts; a paused replica's daemons are stopped and resume from the
progress annotations when it takes over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf
import structlog
from prometheus_client import start_http_server

from logsentinel.domain.resources import DetectionRule, Incident, Playbook
from logsentinel.kube.client import api_client
from logsentinel.kube.events import EventRecorder
from logsentinel.kube.objects import ObjectStore
from logsentinel.kube.peering import PeeringUnavailable, ensure_peering
from logsentinel.logs import configure
from logsentinel.operator import handlers, pipeline_handlers
from logsentinel.operator.remediator import Remediator
from logsentinel.operator.settings import OperatorSettings
from logsentinel.operator.world import Database, OperatorWorld
from logsentinel.remediation.engine import RemediationEngine
from logsentinel.remediation.kubernetes import KubernetesExecutor
from logsentinel.remediation.outbound import OutboundPolicy
from logsentinel.storage import migrate

log = structlog.get_logger("logsentinel.operator")

FINALIZER = "incident.logsentinel.io/finalizer"
# Not logsentinel.io itself: Kopf hides annotations under its own prefix from its diffs, and
# logsentinel.io/reset-circuit must trigger a handler.
ANNOTATION_PREFIX = "kopf.logsentinel.io"


def now() -> datetime:
    return datetime.now(UTC)


def build(settings: OperatorSettings) -> handlers.Runtime:
    """Everything the handlers use, connected."""
    if settings.migrate_on_start:
        migrate.upgrade(settings.database_url)
    client = api_client(settings.kubeconfig)
    executor = KubernetesExecutor(client)
    database = Database(settings.database_url)
    rules = ObjectStore(client, DetectionRule.INFO.plural, DetectionRule.INFO.kind)
    outbound = OutboundPolicy.of(settings.notify_allowed_targets)
    world = OperatorWorld(database, executor, rules, settings.heartbeat_stale_after, now, outbound)
    events = EventRecorder(client)
    pipeline_handlers.configure(client, settings.central_namespace)
    engine = RemediationEngine(executor, world, settings.central_namespace)
    remediator = Remediator(
        engine,
        ObjectStore(client, Incident.INFO.plural, Incident.INFO.kind),
        ObjectStore(client, Playbook.INFO.plural, Playbook.INFO.kind),
        world,
        events,
        now,
    )
    grace = 0.0 if settings.standalone else settings.peering_grace.total_seconds()
    return handlers.Runtime(
        remediator,
        world,
        events,
        settings.idle_poll.total_seconds(),
        acting_from=time.monotonic() + grace,
    )


def configure_kopf(config: OperatorSettings) -> None:
    @kopf.on.startup()
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=ANNOTATION_PREFIX
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        settings.execution.max_workers = 32
        settings.posting.level = logging.WARNING  # Kopf's own chatter stays out of Events
        settings.peering.mandatory = not config.standalone
        settings.watching.server_timeout = 300

    if config.kubeconfig:

        @kopf.on.login()
        def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
            return kopf.login_with_kubeconfig(**kwargs)


def run(settings: OperatorSettings) -> None:
    configure(settings.log_level)
    if settings.kubeconfig:
        import os

        os.environ["KUBECONFIG"] = settings.kubeconfig  # what Kopf's kubeconfig login reads
    handlers.RUNTIME = build(settings)
    if not settings.standalone:
        try:
            created = ensure_peering(
                api_client(settings.kubeconfig), settings.peering, settings.namespaces
            )
        except PeeringUnavailable as error:
            log.error("operator cannot start", problem=str(error))
            raise SystemExit(f"logsentinel operator: {error}") from None
        for label in created:
            log.info("peering object created", object=label)
    configure_kopf(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    log.info(
        "operator starting",
        namespaces=settings.namespaces or "all",
        priority=settings.priority,
        peering=None if settings.standalone else settings.peering,
        health=settings.liveness_endpoint,
    )
    try:
        asyncio.run(
            kopf.operator(
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                priority=settings.priority,
                peering_name=settings.peering,
                standalone=settings.standalone,
                liveness_endpoint=settings.liveness_endpoint,
            )
        )
    finally:
        handlers.RUNTIME.world.database.close()
