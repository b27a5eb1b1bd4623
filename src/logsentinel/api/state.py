"""What the routes share for the life of the process: settings, the database pool, limiters."""

from __future__ import annotations

from dataclasses import dataclass

from anyio import CapacityLimiter
from psycopg_pool import ConnectionPool

from logsentinel.api.identities import Identities
from logsentinel.api.manifests import ManifestStore
from logsentinel.api.ratelimit import LoginLimits, RateLimiter
from logsentinel.api.settings import ApiSettings
from logsentinel.api.sinks import Sink
from logsentinel.domain.resources import DetectionRule, Playbook
from logsentinel.kube.objects import ObjectStore


@dataclass
class AppState:
    settings: ApiSettings
    pool: ConnectionPool
    requests: RateLimiter
    logins: LoginLimits
    passwords: CapacityLimiter  # threads for argon2 (see routes/auth.py password_work)
    sink: Sink
    identities: Identities
    rules: ManifestStore[DetectionRule]
    playbooks: ManifestStore[Playbook]
    parsing: CapacityLimiter  # threads for large ingest bodies
    incidents: ObjectStore | None = None  # Kubernetes mode: the Incident objects

    @property
    def jwt_secret(self) -> str:
        return self.settings.jwt_secret.get_secret_value()
