"""Liveness, readiness and Prometheus metrics: open to anonymous callers (probes, scrapers)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from logsentinel.api.deps import app_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str = Field(description='"ok", or why the database is not reachable.')
    ingest: str = Field(description='"ok", or why ingest cannot store (Kafka unreachable).')


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency does not answer"}},
)
def readyz(request: Request, response: Response) -> Readiness:
    """The database answers, and Kafka does when ingest produces to it."""
    state = app_state(request)
    database = "ok"
    try:
        with state.pool.connection(timeout=2) as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # whatever stops it answering means not ready
        database = f"unreachable: {type(error).__name__}"
    ingest = state.sink.reachable(timeout=2) or "ok"
    ready = database == ingest == "ok"
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(status="ok" if ready else "unavailable", database=database, ingest=ingest)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics() -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
