"""API settings, read from LOGSENTINEL_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Everything `logsentinel api` needs; the Helm chart sets these from Secrets."""

    model_config = SettingsConfigDict(env_prefix="LOGSENTINEL_", extra="ignore")

    database_url: str = Field(description="PostgreSQL URL or libpq connection string.")
    jwt_secret: SecretStr = Field(
        min_length=32, description="HMAC key for access and refresh tokens (from a Secret)."
    )
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=7)
    admin_username: str | None = Field(
        default=None, description="Bootstrap: create this admin when no admin exists yet."
    )
    admin_password: SecretStr | None = Field(
        default=None, description="Bootstrap admin's password (from a Secret; at least 12 chars)."
    )
    login_attempts_per_minute: int = Field(default=5, ge=1)
    requests_per_second: float = Field(default=50.0, gt=0, description="Per identity.")
    request_burst: int = Field(default=200, ge=1)
    identity_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a user's role or an API key is trusted without asking the "
        "database again (another replica refuses a revoked key within this time).",
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Ingest produces here; without it, ingest writes to PostgreSQL."
    )
    kafka_topic: str = "logsentinel-logs"
    kafka_security: dict[str, str] = Field(default_factory=dict)
    ingest_timeout: timedelta = Field(default=timedelta(seconds=10))
    ingest_producers: int = Field(
        default=3,
        ge=1,
        le=32,
        description="Transactional Kafka producers committing ingest groups side by side.",
    )
    ingest_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Request body.")
    ingest_max_decompressed_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    ingest_max_records: int = Field(default=10_000, ge=1)
    kubernetes: bool = Field(
        default=False,
        description="Incident actions go to the Incident objects (the operator acts on them).",
    )
    kubeconfig: str | None = None
    manifests_directory: Path = Field(
        default=Path("manifests"),
        description="Local mode: DetectionRules and Playbooks as YAML files here (point the "
        "processors' LOGSENTINEL_RULES_DIRECTORY at it).",
    )
    migrate_on_start: bool = True
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "info"
