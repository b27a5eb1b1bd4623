"""API settings, read from LOGSENTINEL_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Everything `logsentinel api` needs; the Helm chart sets these from Secrets."""

    model_config = SettingsConfigDict(env_prefix="LOGSENTINEL_", extra="ignore")

    database_url: str = Field(description="PostgreSQL URL or libpq connection string.")
    database_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long a request waits for a pooled database connection; past it (or "
        "when the database does not answer) it is answered 503 with Retry-After.",
    )
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
    # --- logins and client addresses (see docs/api.md, "Logins") ---
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Proxies (addresses or CIDRs) whose X-Forwarded-For is believed: the client "
        "is then the right-most address in it that is not a trusted proxy. Empty: none is.",
    )
    login_attempts_per_minute: int = Field(
        default=5, ge=1, description="Login attempts per username from one client address."
    )
    login_client_attempts_per_minute: int = Field(
        default=30, ge=1, description="Login attempts from one client address, all usernames."
    )
    login_account_failures_per_minute: int = Field(
        default=30,
        ge=1,
        description="Failed logins per username from all clients; past it, a client that has not "
        "logged in as that user before gets one attempt a minute (others keep their limit).",
    )
    login_workers: int = Field(
        default=2, ge=1, le=64, description="Threads that hash and check passwords (argon2)."
    )
    login_queue: int = Field(
        default=16,
        ge=0,
        description="Logins waiting for a password thread; more at once are answered 503.",
    )
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
    # --- the HTTP surface: body limits, ingest parsing, headers, docs, metrics (docs/api.md) ---
    request_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Request body of every route but ingest (logins, users, keys, rules, "
        "playbooks, comments); larger ones get 413 before they are read.",
    )
    ingest_max_json_values: int = Field(
        default=1_000_000,
        ge=1,
        description="JSON values (objects, arrays, strings, numbers...) in one ingest body, "
        "counted before it is parsed: bounds what parsing builds, however it is nested.",
    )
    ingest_parse_threads: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Threads that inflate and parse compressed or large ingest bodies; more "
        "such requests wait for one.",
    )
    behind_tls: bool = Field(
        default=False,
        description="Clients reach the API over HTTPS through a proxy that ends TLS: answers "
        "carry Strict-Transport-Security (as they do anyway to requests that came over TLS).",
    )
    docs_access: Literal["open", "authenticated", "disabled"] = Field(
        default="open",
        description="/docs and /openapi.json: for anyone, for signed-in users (bearer access "
        "token), or not served.",
    )
    web_directory: Path | None = Field(
        default=None,
        description="A built dashboard (web/dist after `make web`); by default the one the "
        "package carries, if any.",
    )
    metrics_access: Literal["open", "authenticated"] = Field(
        default="open",
        description="/metrics: for anyone (in-cluster Prometheus), or only with "
        "LOGSENTINEL_METRICS_TOKEN or an admin's access token as the bearer token.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="The bearer token scrapers present when LOGSENTINEL_METRICS_ACCESS is "
        "authenticated (from a Secret; at least 32 characters).",
        min_length=32,
    )
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
