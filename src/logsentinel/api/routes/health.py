"""Liveness and readiness, open to anonymous callers (probes); Prometheus metrics, open to
scrapers or, with LOGSENTINEL_METRICS_ACCESS=authenticated, only to the metrics token and
admins."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from logsentinel.api.deps import app_state, principal
from logsentinel.api.responses import errors

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str = Field(description='"ok", or why the database is not reachable.')
    ingest: str = Field(description='"ok", or why ingest cannot store (Kafka unreachable).')


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive: answered on the event loop itself (no worker thread), so it
    reports whether the loop is responsive, however busy the thread pool is."""
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


async def metrics_reader(request: Request) -> None:
    """Lets the request through when metrics are open, it presents the metrics token, or it
    comes from an admin; otherwise 401 (no or bad credentials) or 403 (another role)."""
    settings = app_state(request).settings
    if settings.metrics_access == "open":
        return
    header = request.headers.get("authorization", "")
    token = settings.metrics_token
    if token is not None and header[:7].lower() == "bearer ":
        presented = header[7:].strip().encode()
        if hmac.compare_digest(presented, token.get_secret_value().encode()):
            return
    who = await principal(request)
    if not who.may(frozenset({"admin"})):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{who.identity} may not read metrics")


@router.get("/metrics", response_class=PlainTextResponse, responses=errors(401, 403))
def metrics(_: Annotated[None, Depends(metrics_reader)]) -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
