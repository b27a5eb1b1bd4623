"""GET /api/v1/logs: search stored logs, newest first, with a cursor for the next page; and
GET /api/v1/logs/context: the lines around one of them, from the same pod."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel

from logsentinel.api.deps import Database, Principal, allow
from logsentinel.api.responses import AUTHENTICATED, errors
from logsentinel.domain.logrecord import Level
from logsentinel.domain.types import StorableText
from logsentinel.storage.search import FoundLog, LogContext, LogQuery, context, search

router = APIRouter(prefix="/api/v1", tags=["logs"], responses=AUTHENTICATED)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*={0,2}$"


class LogPage(BaseModel):
    items: list[FoundLog]
    next_cursor: str | None


def encode_cursor(timestamp: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{timestamp.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), int(row_id)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "cursor: not a cursor this API returned"
        ) from None


@router.get("/logs", response_model=LogPage, responses=errors(400))
def search_logs(
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
    q: Annotated[StorableText | None, Query(max_length=500, description="Full-text query.")] = None,
    service: Annotated[list[StorableText] | None, Query(max_length=50)] = None,
    namespace: Annotated[list[StorableText] | None, Query(max_length=50)] = None,
    level: Annotated[list[Level] | None, Query(max_length=10)] = None,
    template: Annotated[
        list[StorableText] | None, Query(max_length=50, description="A template_id.")
    ] = None,
    pod: Annotated[list[StorableText] | None, Query(max_length=50)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    cursor: Annotated[
        str | None, Query(max_length=200, pattern=CURSOR_PATTERN, description="A next_cursor.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LogPage:
    """Logs matching every given filter, newest first; pass next_cursor for the next page."""
    if since is not None and until is not None and since >= until:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "since: must be before until")
    found = search(
        connection,
        LogQuery(
            text=q,
            services=service or (),
            namespaces=namespace or (),
            levels=[lv.value for lv in level or ()],
            templates=template or (),
            pods=pod or (),
            since=since,
            until=until,
            after=decode_cursor(cursor) if cursor else None,
            limit=limit,
        ),
    )
    last = found[-1] if len(found) == limit else None
    return LogPage(
        items=found, next_cursor=encode_cursor(last.timestamp, last.id) if last else None
    )


@router.get("/logs/context", response_model=LogContext, responses=errors(404))
def log_context(
    connection: Database,
    who: Annotated[Principal, Depends(allow("viewer"))],
    timestamp: Annotated[AwareDatetime, Query(description="The line's timestamp, as listed.")],
    id: Annotated[int, Query(ge=1, description="The line's id, as listed.")],
    lines: Annotated[int, Query(ge=1, le=200, description="Lines on each side.")] = 20,
) -> LogContext:
    """The line with the lines its pod wrote just before and after it (the same service,
    namespace and pod, within an hour), oldest first."""
    found = context(connection, timestamp, id, lines)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stored line {id} at {timestamp}")
    return found
