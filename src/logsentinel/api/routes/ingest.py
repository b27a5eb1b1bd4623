"""POST /api/v1/ingest: records in, 202 only once they are durable.

Served by IngestFastPath, an ASGI middleware in front of FastAPI's routing (see its docstring);
the FastAPI route below declares the same endpoint for the OpenAPI document and the roles.

The body's size is held to LOGSENTINEL_INGEST_MAX_BYTES by the body-limit middleware before it
is read. Small plain bodies are parsed on the event loop (cheaper than a thread hop); compressed
or larger ones in a worker thread, at most LOGSENTINEL_INGEST_PARSE_THREADS at a time, so no
body can stall the loop and a flood of them waits instead of spawning work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import anyio.to_thread
import psycopg
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from pydantic import BaseModel, Field, TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from logsentinel.api import ingest as ingesting
from logsentinel.api import metrics
from logsentinel.api.deps import Grant, Principal, admitted, allow, app_state, authenticate
from logsentinel.api.responses import AUTHENTICATED, ErrorMessage, database_unavailable
from logsentinel.api.sinks import SinkOutcomeUnknownError, SinkUnavailableError
from logsentinel.api.state import AppState
from logsentinel.domain.logrecord import LogRecord

router = APIRouter(prefix="/api/v1", tags=["ingest"])
PATH = "/api/v1/ingest"
RETRY_AFTER = "5"
ROLES: tuple[Grant, ...] = ("ingest", "operator")
GRANTS = frozenset(ROLES)
INLINE_PARSE_BYTES = 64 * 1024  # parsed in well under a millisecond: not worth a thread hop


class RejectedLine(BaseModel):
    line: int
    error: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[RejectedLine]


class IngestRefusal(BaseModel):
    message: str
    rejected: list[RejectedLine] = Field(description="Each invalid line and why (may be empty).")


class IngestRefused(BaseModel):
    """The body of a 400: nothing was stored."""

    detail: IngestRefusal


_RECORDS = TypeAdapter(list[LogRecord]).json_schema(ref_template="#/components/schemas/{model}")
RECORD_SCHEMAS: dict[str, Any] = _RECORDS.pop("$defs")
"""The LogRecord schema and what it refers to, for the OpenAPI components (app.py adds them:
the route reads its body itself, so FastAPI does not see the model)."""

REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _RECORDS},
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "One LogRecord JSON object per line."}
        },
    },
}


def _refused(message: str, rejected: list[RejectedLine] | None = None) -> HTTPException:
    refusal = IngestRefusal(message=message, rejected=rejected or [])
    return HTTPException(status.HTTP_400_BAD_REQUEST, refusal.model_dump())


@router.post(
    PATH.removeprefix(router.prefix),
    response_model=IngestResult,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses={
        **AUTHENTICATED,
        400: {"model": IngestRefused, "description": "No valid record, or an unreadable body"},
        413: {
            "model": ErrorMessage,
            "description": "Body, decompressed body, records or JSON values over their limit "
            "(the message says which)",
        },
        503: {
            "model": ErrorMessage,
            "description": "Kafka (or the database) did not take the records; none is stored; "
            "retry after Retry-After",
        },
        504: {
            "model": ErrorMessage,
            "description": "Kafka stopped answering during the commit: the records were "
            "stored all together or not at all (a retry may duplicate them)",
        },
    },
)
async def ingest(request: Request, who: Annotated[Principal, Depends(allow(*ROLES))]) -> Response:
    """A JSON array or NDJSON of LogRecords (gzip accepted). Answers 202 only after Kafka (or,
    without Kafka, PostgreSQL) has every valid record; invalid lines are listed with the reason
    and do not block the valid ones."""
    # IngestFastPath answers these requests before FastAPI routes them; this route declares
    # the contract (the OpenAPI document, the roles) and answers the same way without it
    return await accept(app_state(request), await request.body(), request.headers)


async def accept(state: AppState, body: bytes, headers: Mapping[str, str]) -> Response:
    """The answer to an authenticated ingest request: 202 once the valid records are stored;
    HTTPException 400, 413, 503 or 504 otherwise."""
    settings = state.settings
    encoding = headers.get("content-encoding")
    limits = ingesting.Limits(
        settings.ingest_max_decompressed_bytes,
        settings.ingest_max_records,
        settings.ingest_max_json_values,
    )
    try:
        if len(body) <= INLINE_PARSE_BYTES and not ingesting.compressed(encoding):
            parsed = ingesting.read_body(body, encoding, limits)
        else:
            parsed = await anyio.to_thread.run_sync(
                ingesting.read_body, body, encoding, limits, limiter=state.parsing
            )
    except ingesting.BodyTooLargeError as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except ingesting.BadBodyError as error:
        raise _refused(str(error)) from None
    rejected = [RejectedLine(line=r.line, error=r.error) for r in parsed.rejected]
    if rejected:
        metrics.REJECTED_RECORDS.inc(len(rejected))
    if not parsed.valid:
        raise _refused("no valid record", rejected)
    try:
        await state.sink.store(parsed.valid)
    except SinkUnavailableError as error:
        metrics.UNAVAILABLE_RECORDS.inc(len(parsed.valid))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(error), headers={"Retry-After": RETRY_AFTER}
        ) from None
    except SinkOutcomeUnknownError as error:
        metrics.UNKNOWN_RECORDS.inc(len(parsed.valid))
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(error)) from None
    metrics.ACCEPTED_RECORDS.inc(len(parsed.valid))
    result = IngestResult(accepted=len(parsed.valid), rejected=rejected)
    # the hottest route answers with its bytes directly (FastAPI would validate the model again)
    return Response(
        result.model_dump_json(), status.HTTP_202_ACCEPTED, media_type="application/json"
    )


class IngestFastPath:
    """ASGI middleware that answers POST /api/v1/ingest itself, before FastAPI routes it.

    FastAPI's routing, dependency solving and response handling cost more per request than
    reading and storing a small body (docs/benchmarks.md has the figures). This path does what
    the route does through the same functions (authenticate, admitted, accept) and answers
    errors as FastAPI would (`{"detail": ...}`); added innermost, it sits inside the body-limit
    and security-header middlewares like every route. Every other request passes through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # ASGI header names are lower case; of a repeated one the first counts, as in
        # Starlette's Headers.get (so both paths read the same credentials)
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }
        response: Response
        try:
            state: AppState = scope["app"].state.logsentinel
            admitted(await authenticate(state, headers), GRANTS)
            response = await accept(state, await _body(receive), headers)
        except ClientDisconnect:
            return  # nobody is left to answer; nothing was stored
        except StarletteHTTPException as error:  # the body limit raises Starlette's own
            response = await http_exception_handler(Request(scope), error)
        except psycopg.OperationalError as error:
            response = await database_unavailable(Request(scope), error)
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    """The request body, read as Starlette's Request.body reads it, without its machinery."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
