"""Processor settings, read from LOGSENTINEL_* environment variables."""

from __future__ import annotations

import itertools
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from logsentinel.domain.common import DEFAULT_CENTRAL_NAMESPACE
from logsentinel.domain.logrecord import DEFAULT_MAX_EVENT_LEAD, EventTimeWindow

_instances = itertools.count(1)


def default_consumer_id() -> str:
    """hostname-pid (the pod's name in Kubernetes). Settings made again in the same process, for
    another processor in a test or bench, get a -2, -3... suffix: no two share heartbeat rows."""
    instance = next(_instances)
    name = f"{socket.gethostname()}-{os.getpid()}"
    return name if instance == 1 else f"{name}-{instance}"


DEFAULT_SHUTDOWN_GRACE = timedelta(seconds=25)
"""Below Kubernetes' default terminationGracePeriodSeconds (30 s): the processor exits first."""


class ProcessorSettings(BaseSettings):
    """Everything a processor needs; the LogPipeline's processors Deployment sets these."""

    model_config = SettingsConfigDict(env_prefix="LOGSENTINEL_", extra="ignore")

    database_url: str = Field(description="PostgreSQL URL or libpq connection string.")
    kafka_bootstrap: str = Field(description="Comma-separated host:port list.")
    kafka_topic: str = "logsentinel-logs"
    kafka_group: str = "logsentinel-processors"
    dead_letter_topic: str = "logsentinel-dead-letters"
    kafka_security: dict[str, str] = Field(
        default_factory=dict,
        description='Extra librdkafka settings (TLS/SASL), e.g. {"security.protocol": "SSL"}.',
    )
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    batch_wait: timedelta = Field(default=timedelta(milliseconds=100))
    max_record_bytes: int = Field(default=256 * 1024, ge=1024)
    custom_parsers_file: Path | None = Field(
        default=None, description="YAML list of custom parsers (the LogPipeline's customParsers)."
    )
    retention: timedelta = Field(default=timedelta(days=7))
    event_time_max_age: Annotated[timedelta, Field(gt=timedelta(0))] | None = Field(
        default=None,
        description="A record time older than this when it arrives is replaced by the arrival "
        "time (default and upper bound: retention, which would drop the record at once).",
    )
    event_time_max_lead: timedelta = Field(
        default=DEFAULT_MAX_EVENT_LEAD,
        ge=timedelta(0),
        description="A record time more than this after its arrival is replaced by the arrival "
        "time (a far-future time would keep silence detection quiet).",
    )

    @model_validator(mode="after")
    def _event_time_within_retention(self) -> ProcessorSettings:
        if self.event_time_max_age is not None and self.event_time_max_age > self.retention:
            raise ValueError(
                "event_time_max_age: must not exceed retention (such records would be dropped)"
            )
        return self

    @property
    def event_time(self) -> EventTimeWindow:
        """The event-time window the processors decode with and make partitions for."""
        return EventTimeWindow(self.event_time_max_age or self.retention, self.event_time_max_lead)

    migrate_on_start: bool = True
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    consumer_id: str = Field(
        default_factory=default_consumer_id,
        min_length=1,
        description="Names this processor in pipeline heartbeats and as Kafka client.id.",
    )
    heartbeat_interval: timedelta = Field(
        default=timedelta(seconds=2),
        gt=timedelta(0),
        description="How often the processor reports its lag per partition to the database.",
    )
    shutdown_grace: timedelta = Field(
        default=DEFAULT_SHUTDOWN_GRACE,
        gt=timedelta(0),
        description="After SIGTERM/SIGINT: the time to finish (else abandon) the batch in flight "
        "and leave the consumer group; then the processor gives up and exits with status 1. Keep "
        "it under the pod's terminationGracePeriodSeconds (30 s by default).",
    )
    backoff_initial: timedelta = Field(default=timedelta(milliseconds=200))
    backoff_max: timedelta = Field(default=timedelta(seconds=30))
    log_level: str = "info"
    rules_directory: Path | None = Field(
        default=None, description="Read DetectionRules from *.yaml here (local and Compose mode)."
    )
    kubernetes: bool = Field(
        default=False,
        description="Kubernetes mode: rules from DetectionRule objects, incidents as Incidents.",
    )
    compose_targets: bool = Field(
        default=False,
        description="Compose mode: an incident's target is the Compose service of its lines "
        "(namespace = the Compose project, service = the Compose service), which the remediator "
        "acts on.",
    )
    kubeconfig: str | None = Field(
        default=None, description="Outside a cluster: the kubeconfig file (else $KUBECONFIG)."
    )
    rules_namespace: str | None = Field(
        default=None, description="Watch DetectionRules in this namespace only (default: all)."
    )
    central_namespace: str = Field(
        default=DEFAULT_CENTRAL_NAMESPACE,
        description="Only DetectionRules in this namespace may watch other namespaces "
        "(spec.selector.namespaces, allNamespaces); the operator's setting of the same name.",
    )
