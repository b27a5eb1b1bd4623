"""Processor settings, read from LOGSENTINEL_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    migrate_on_start: bool = True
    metrics_port: int = Field(default=9108, ge=0, le=65535)
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
    kubeconfig: str | None = Field(
        default=None, description="Outside a cluster: the kubeconfig file (else $KUBECONFIG)."
    )
    rules_namespace: str | None = Field(
        default=None, description="Watch DetectionRules in this namespace only (default: all)."
    )
