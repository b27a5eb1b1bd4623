"""POST /api/v1/ingest: records in, 202 only once they are durable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from logsentinel.api import ingest as ingesting
from logsentinel.api.deps import Principal, allow, app_state

router = APIRouter(prefix="/api/v1", tags=["ingest"])
RETRY_AFTER = "5"


class RejectedLine(BaseModel):
    line: int
    error: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[RejectedLine]


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"the body is over {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/ingest",
    response_model=IngestResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        400: {"description": "no valid record, or an unreadable body"},
        413: {"description": "body too large"},
        503: {"description": "Kafka (or the database) did not take the records; retry"},
    },
)
async def ingest(
    request: Request, who: Annotated[Principal, Depends(allow("ingest", "operator"))]
) -> IngestResult:
    """A JSON array or NDJSON of LogRecords (gzip accepted). Answers 202 only after Kafka (or,
    without Kafka, PostgreSQL) has every valid record; invalid lines are listed with the reason
    and do not block the valid ones."""
    state = app_state(request)
    settings = state.settings
    body = await _read_limited(request, settings.ingest_max_bytes)
    try:
        raw = ingesting.decompress(
            body, request.headers.get("content-encoding"), settings.ingest_max_decompressed_bytes
        )
        parsed = ingesting.parse(raw)
    except ingesting.BodyTooLargeError as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except ingesting.BadBodyError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    count = len(parsed.records) + len(parsed.rejected)
    if count > settings.ingest_max_records:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{count} records; at most {settings.ingest_max_records} per request",
        )
    rejected = [RejectedLine(line=r.line, error=r.error) for r in parsed.rejected]
    if not parsed.records:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            {"message": "no valid record", "rejected": [r.model_dump() for r in rejected]},
        )
    try:
        await run_in_threadpool(state.sink.store, parsed.records)
    except ingesting.SinkUnavailableError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(error), headers={"Retry-After": RETRY_AFTER}
        ) from None
    return IngestResult(accepted=len(parsed.records), rejected=rejected)
