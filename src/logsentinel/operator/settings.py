"""Operator settings, read from LOGSENTINEL_* environment variables: what remediation needs in
both modes, and what only the Kopf operator (Kubernetes) or only the Compose remediator needs."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, PlainValidator
from pydantic_settings import BaseSettings, SettingsConfigDict

from logsentinel.domain.common import DEFAULT_CENTRAL_NAMESPACE
from logsentinel.remediation.outbound import AllowedTarget, parse_allowed_target


def _random_priority() -> int:
    # Kopf freezes every operator when two peers share a priority; distinct random priorities
    # let exactly one replica act, and a restarted replica simply joins with a new one.
    return random.randint(1, 1_000_000)


def _allowed_target(entry: object) -> AllowedTarget:
    if not isinstance(entry, str):
        raise ValueError(f"{entry!r} is not a string")
    return parse_allowed_target(entry)  # ValueError naming the entry


AllowedTargetEntry = Annotated[AllowedTarget, PlainValidator(_allowed_target)]


class RemediationSettings(BaseSettings):
    """What the remediation engine needs whatever the platform."""

    model_config = SettingsConfigDict(env_prefix="LOGSENTINEL_", extra="ignore")

    database_url: str = Field(description="PostgreSQL URL or libpq connection string.")
    central_namespace: str = Field(
        default=DEFAULT_CENTRAL_NAMESPACE,
        description="Playbooks here handle incidents of every namespace; DetectionRules here "
        "may watch other namespaces.",
    )
    migrate_on_start: bool = True
    heartbeat_stale_after: timedelta = Field(default=timedelta(seconds=15))
    idle_poll: timedelta = Field(
        default=timedelta(seconds=10),
        description="How often an incident without pending work is looked at again.",
    )
    metrics_port: int = Field(default=9109, ge=0, le=65535)
    notify_allowed_targets: list[AllowedTargetEntry] = Field(
        default_factory=list,
        description="Non-public notification targets the operator may connect to (JSON list): "
        "addresses or CIDRs (10.0.0.0/8, fd00::/8) and host names as written in webhook URLs "
        "and SMTP Secrets (alertmanager.monitoring.svc, *.internal.example.org). Empty: public "
        "addresses only.",
    )
    log_level: str = "info"


class OperatorSettings(RemediationSettings):
    """Everything the operator needs; the Helm chart sets these."""

    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig file; default: in-cluster, then $KUBECONFIG."
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to watch; empty: the whole cluster (ClusterKopfPeering).",
    )
    peering: str = Field(default="logsentinel", description="Kopf peering object name.")
    priority: int = Field(default_factory=_random_priority, ge=1)
    standalone: bool = Field(default=False, description="No peering (single replica only).")
    peering_grace: timedelta = Field(
        default=timedelta(seconds=2),
        description="After start, wait this long before acting, so that replicas starting "
        "together see each other's peering records first and only one acts.",
    )
    health_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Port of Kopf's health endpoint (GET /healthz on all interfaces) for the "
        "pod's liveness and readiness probes; 0: none.",
    )

    @property
    def liveness_endpoint(self) -> str | None:
        """The URL Kopf serves its health at (``kopf.operator(liveness_endpoint=...)``)."""
        return f"http://0.0.0.0:{self.health_port}/healthz" if self.health_port else None


class ComposeSettings(RemediationSettings):
    """The Compose remediator (`logsentinel remediator`): Docker instead of Kubernetes."""

    docker_host: str | None = Field(
        default=None,
        description="Docker Engine API address (unix:///var/run/docker.sock); default: "
        "$DOCKER_HOST, then the local socket.",
    )
    manifests_directory: Path = Field(
        description="Directory of YAML manifests, read with its subdirectories: the Playbooks "
        "to run and the DetectionRules that verification reads (the processors' rules)."
    )
    poll: timedelta = Field(
        default=timedelta(seconds=2),
        description="How often open incidents are listed from PostgreSQL at the latest (a "
        "notification of a new incident or an approval wakes the remediator at once).",
    )
    workers: int = Field(
        default=8, ge=1, le=64, description="Incidents whose steps may run at the same time."
    )
