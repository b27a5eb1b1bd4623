"""The FastAPI application: state (database pool, limiters), middlewares (body limits, security
headers), routes, the answer when the database is busy or away, and first-admin bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import structlog
from anyio import CapacityLimiter
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from logsentinel import __version__
from logsentinel.api import security
from logsentinel.api.bodylimit import BodyLimit, BodyLimitMiddleware
from logsentinel.api.etags import EntityTagMiddleware
from logsentinel.api.headers import SecurityHeadersMiddleware
from logsentinel.api.identities import Identities
from logsentinel.api.manifests import DirectoryStore, KubernetesStore
from logsentinel.api.ratelimit import LoginLimits, RateLimiter
from logsentinel.api.responses import database_unavailable, errors
from logsentinel.api.routes import (
    audit,
    auth,
    backtest,
    docs,
    health,
    incidents,
    ingest,
    logs,
    pipeline,
    resources,
    stats,
    web,
)
from logsentinel.api.settings import ApiSettings
from logsentinel.api.sinks import DatabaseSink, KafkaSink, Sink
from logsentinel.api.state import AppState
from logsentinel.domain.access import Role
from logsentinel.domain.resources import DetectionRule, Incident, Playbook
from logsentinel.kube.client import api_client
from logsentinel.kube.objects import ObjectStore
from logsentinel.storage import access, migrate
from logsentinel.storage.urls import libpq_url

log = structlog.get_logger("logsentinel.api")


def bootstrap_admin(state: AppState) -> None:
    """Create the configured admin when no admin exists; never a default password."""
    settings = state.settings
    if not settings.admin_username or settings.admin_password is None:
        return
    password = settings.admin_password.get_secret_value()
    if len(password) < 12:
        raise ValueError("LOGSENTINEL_ADMIN_PASSWORD must be at least 12 characters")
    with state.pool.connection() as connection:
        if access.count_admins(connection):
            return
        access.create_user(
            connection, settings.admin_username, security.hash_password(password), Role.ADMIN
        )
    log.info("bootstrap admin created", username=settings.admin_username)


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            migrate.upgrade(settings.database_url)
        pool = ConnectionPool(
            libpq_url(settings.database_url),
            min_size=1,
            max_size=10,
            kwargs={"autocommit": True},
            timeout=settings.database_wait_seconds,  # every connection() unless it says otherwise
            open=True,
        )
        sink: Sink = (
            KafkaSink(
                settings.kafka_bootstrap,
                settings.kafka_topic,
                settings.kafka_security,
                settings.ingest_timeout.total_seconds(),
                settings.ingest_producers,
            )
            if settings.kafka_bootstrap
            else DatabaseSink(pool)
        )
        kube = api_client(settings.kubeconfig) if settings.kubernetes else None
        state = AppState(
            rules=(
                KubernetesStore(
                    ObjectStore(kube, DetectionRule.INFO.plural, DetectionRule.INFO.kind),
                    DetectionRule,
                )
                if kube is not None
                else DirectoryStore(settings.manifests_directory, DetectionRule)
            ),
            playbooks=(
                KubernetesStore(
                    ObjectStore(kube, Playbook.INFO.plural, Playbook.INFO.kind), Playbook
                )
                if kube is not None
                else DirectoryStore(settings.manifests_directory, Playbook)
            ),
            settings=settings,
            pool=pool,
            requests=RateLimiter(settings.requests_per_second, settings.request_burst),
            sink=sink,
            identities=Identities(settings.identity_cache_seconds),
            incidents=(
                ObjectStore(kube, Incident.INFO.plural, Incident.INFO.kind)
                if kube is not None
                else None
            ),
            logins=LoginLimits(
                settings.login_client_attempts_per_minute,
                settings.login_attempts_per_minute,
                settings.login_account_failures_per_minute,
                known_for=settings.refresh_token_ttl.total_seconds(),
            ),
            passwords=CapacityLimiter(settings.login_workers),
            parsing=CapacityLimiter(settings.ingest_parse_threads),
        )
        app.state.logsentinel = state
        bootstrap_admin(state)
        try:
            yield
        finally:
            sink.close()
            pool.close()

    app = FastAPI(
        title="Log Sentinel API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # /docs and /openapi.json come from routes/docs.py, as settings say
        redoc_url=None,
        openapi_url=None,
        # operationId = the route function's name: stable, readable, and what the role-matrix
        # test keys on (names must therefore be unique across routes)
        generate_unique_id_function=lambda route: route.name,
        # no OpenTelemetry here: FastAPI would look for its providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # inside the proxy-headers middleware (added after): HSTS follows the forwarded scheme
    app.add_middleware(ingest.IngestFastPath)  # innermost: inside the body limit and headers
    app.add_middleware(
        BodyLimitMiddleware,
        default=BodyLimit(settings.request_max_bytes, "LOGSENTINEL_REQUEST_MAX_BYTES"),
        paths={ingest.PATH: BodyLimit(settings.ingest_max_bytes, "LOGSENTINEL_INGEST_MAX_BYTES")},
    )
    app.add_middleware(EntityTagMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, behind_tls=settings.behind_tls)
    if settings.trusted_proxies:
        # request.client is the forwarding client only behind these (`logsentinel api` turns
        # uvicorn's own handling, which trusts loopback, off)
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in settings.trusted_proxies]
        )
    app.add_exception_handler(psycopg.OperationalError, database_unavailable)
    app.include_router(health.router)  # /readyz answers a database away itself
    for router in (auth, ingest, logs, stats, pipeline, audit, incidents, resources, backtest):
        # every route of these may need the database, if only to read its caller
        app.include_router(router.router, responses=errors(503))
    docs.add_docs(app, settings.docs_access)
    web.add_web(app, settings.web_directory)  # last: its catch-all must not shadow the API
    generate_openapi = app.openapi

    def openapi_with_record_schemas() -> dict[str, Any]:
        schema = generate_openapi()  # cached by FastAPI after the first call
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in ingest.RECORD_SCHEMAS.items():
            components.setdefault(name, definition)
        return schema

    app.openapi = openapi_with_record_schemas  # type: ignore[method-assign]
    return app
