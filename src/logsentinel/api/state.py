"""What the routes share for the life of the process: settings, the database pool, limiters."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from logsentinel.api.ingest import DatabaseSink, KafkaSink
from logsentinel.api.ratelimit import RateLimiter
from logsentinel.api.settings import ApiSettings
from logsentinel.kube.objects import ObjectStore


@dataclass
class AppState:
    settings: ApiSettings
    pool: ConnectionPool
    requests: RateLimiter
    logins: RateLimiter
    sink: KafkaSink | DatabaseSink
    incidents: ObjectStore | None = None  # Kubernetes mode: the Incident objects

    @property
    def jwt_secret(self) -> str:
        return self.settings.jwt_secret.get_secret_value()
