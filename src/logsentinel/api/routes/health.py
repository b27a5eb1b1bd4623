"""Liveness, readiness and Prometheus metrics: open to anonymous callers (probes, scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from logsentinel.api.deps import app_state

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, response: Response) -> dict[str, str]:
    """The database (and Kafka, once ingest is configured) answer."""
    try:
        with app_state(request).pool.connection(timeout=2) as connection:
            connection.execute("SELECT 1")
    except Exception as error:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "database": f"unreachable: {type(error).__name__}"}
    return {"status": "ok", "database": "ok"}


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
