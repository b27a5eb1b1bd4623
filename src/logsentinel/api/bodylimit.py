"""Request body size limits for every route, enforced before a body is read.

An ASGI middleware: a request whose Content-Length is over its route's limit is answered 413 at
once, without reading a byte of the body; a body without one (chunked) is counted as the app
reads it and cut off with 413 the moment it passes the limit. Either way the answer closes the
connection, so the server stops reading what the client still sends. Each path may have a limit
of its own (ingest takes larger bodies than the JSON routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("logsentinel.api.bodylimit")

CLOSE = {"Connection": "close"}


@dataclass(frozen=True)
class BodyLimit:
    """At most `bytes` of body; `setting` names where the limit comes from, for the answer."""

    bytes: int
    setting: str

    def refusal(self) -> str:
        return f"the request body is over {self.bytes} bytes, the limit here ({self.setting})"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default: BodyLimit, paths: Mapping[str, BodyLimit]) -> None:
        self.app = app
        self.default = default
        self.paths = dict(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit.bytes:
            log.info("request body refused", path=scope["path"], content_length=declared)
            answer = JSONResponse({"detail": limit.refusal()}, 413, headers=CLOSE)
            await answer(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.bytes:
                    log.info("request body cut off", path=scope["path"], received=received)
                    # raised into whoever reads the body; FastAPI and Starlette answer it
                    raise HTTPException(413, limit.refusal(), headers=CLOSE)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses such a request before it gets here
    return None
