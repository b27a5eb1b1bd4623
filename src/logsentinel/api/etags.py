"""Entity tags on the API's read answers, so that pollers (the dashboard refreshes its pages every
few seconds) get a bodiless 304 when nothing changed.

An ASGI middleware buffers each successful GET answer under /api/v1/, tags it with a digest of
its body, and answers 304 Not Modified when the request's If-None-Match holds that tag. Answers
stay `Cache-Control: no-store` (they carry private data): the client keeps the last body itself
and revalidates explicitly, as the dashboard's API client does. The server still does the work of
the answer; what a 304 saves is the transfer and the client's parsing and drawing.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/api/v1/"


def entity_tag(body: bytes) -> str:
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return '"' + base64.urlsafe_b64encode(digest).decode().rstrip("=") + '"'


def matches(if_none_match: str, tag: str) -> bool:
    """Whether an If-None-Match header names ``tag`` (weak comparison, as RFC 9110 asks)."""
    wanted = tag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") in (wanted, "*")
        for candidate in if_none_match.split(",")
    )


class EntityTagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] != 200:
                    await send(message)  # passed through untouched, and so is its body
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            tag = entity_tag(body)
            headers = MutableHeaders(scope=start)
            headers["etag"] = tag
            if if_none_match is not None and matches(if_none_match, tag):
                start["status"] = 304
                for name in ("content-length", "content-type"):
                    del headers[name]
                await send(start)
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)
