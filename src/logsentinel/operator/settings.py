"""Operator settings, read from LOGSENTINEL_* environment variables."""

from __future__ import annotations

import random
from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _random_priority() -> int:
    # Kopf freezes every operator when two peers share a priority; distinct random priorities
    # let exactly one replica act, and a restarted replica simply joins with a new one.
    return random.randint(1, 1_000_000)


class OperatorSettings(BaseSettings):
    """Everything the operator needs; the Helm chart sets these."""

    model_config = SettingsConfigDict(env_prefix="LOGSENTINEL_", extra="ignore")

    database_url: str = Field(description="PostgreSQL URL or libpq connection string.")
    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig file; default: in-cluster, then $KUBECONFIG."
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to watch; empty: the whole cluster (ClusterKopfPeering).",
    )
    central_namespace: str = Field(
        default="logsentinel-system",
        description="Playbooks here handle incidents of every namespace.",
    )
    peering: str = Field(default="logsentinel", description="Kopf peering object name.")
    priority: int = Field(default_factory=_random_priority, ge=1)
    standalone: bool = Field(default=False, description="No peering (single replica only).")
    peering_grace: timedelta = Field(
        default=timedelta(seconds=2),
        description="After start, wait this long before acting, so that replicas starting "
        "together see each other's peering records first and only one acts.",
    )
    migrate_on_start: bool = True
    heartbeat_stale_after: timedelta = Field(default=timedelta(seconds=15))
    idle_poll: timedelta = Field(
        default=timedelta(seconds=10),
        description="How often an incident without pending work is looked at again.",
    )
    metrics_port: int = Field(default=9109, ge=0, le=65535)
    log_level: str = "info"
