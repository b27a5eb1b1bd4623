"""The error answers routes document in the OpenAPI schema, so that it lists every status code
a route can give and the body that comes with it; and the answer when the database is busy or
away."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from logsentinel.api.ratelimit import retry_after

log = structlog.get_logger("logsentinel.api")


class ErrorMessage(BaseModel):
    """The body of every error but 422: what went wrong, for people."""

    detail: str


_WHY = {
    400: "The request cannot be carried out as sent (the message says why)",
    401: "No credentials, or invalid ones",
    403: "The caller's role may not do this",
    404: "No such object",
    409: "The object is not in a state that allows this",
    413: "The body is over this route's size limit (LOGSENTINEL_REQUEST_MAX_BYTES)",
    429: "Rate limit exceeded; retry after Retry-After seconds",
    503: "A backend (the database or Kubernetes) is unavailable; retry after Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these error status codes, each with an ErrorMessage body."""
    return {code: {"model": ErrorMessage, "description": _WHY[code]} for code in codes}


AUTHENTICATED = errors(401, 403, 429)
"""What every route behind `allow(...)` may answer besides its own outcomes."""

BAD_BODY = errors(400, 413)
"""Routes with a JSON body: FastAPI answers 400 when the body is not UTF-8 text, and the body
limit (api/bodylimit.py) 413 when it is larger than the route allows."""


DATABASE_RETRY_AFTER = 2.0
"""Seconds a client is told to wait when the database is busy or away."""


async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    """Answer for a request that got no pooled connection within LOGSENTINEL_DATABASE_WAIT_SECONDS
    (PoolTimeout) or lost the database (OperationalError, which PoolTimeout is): 503 with
    Retry-After, not a 500. How the API connects stays in the log. Async: when the database is
    busy the thread pool is full of requests waiting for it."""
    log.warning(
        "database busy or unavailable",
        path=request.url.path,
        error_type=type(error).__name__,
        error=str(error),
    )
    return JSONResponse(
        {"detail": "the database is busy or unavailable; retry later"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": retry_after(DATABASE_RETRY_AFTER)},
    )
