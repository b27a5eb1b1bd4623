"""Security headers on every answer of the API.

An ASGI middleware adds what a response did not set itself: a strict Content-Security-Policy
(the API's own origin only: right for JSON and for a dashboard served from the same origin),
nosniff, no framing, no referrer, no caching (answers carry tokens and private data), and HSTS
when the request came over TLS or the API is configured as being behind TLS. A page that needs
more (the Swagger UI) sets its own policy, built with `page_policy`.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
DEFAULTS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
)
_RAW_DEFAULTS = [(name.encode(), value.encode()) for name, value in DEFAULTS]
_RAW_HSTS = (b"strict-transport-security", STRICT_TRANSPORT_SECURITY.encode())
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def page_policy(html: str, scripts: str, styles: str, images: str) -> str:
    """A Content-Security-Policy for one HTML page: scripts from `scripts` and the page's own
    inline scripts (by their hashes, so no other inline script runs), styles from `styles`,
    images from `images`, requests to the API's origin only."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src {scripts} {hashes}; style-src {styles}; "
        f"img-src {images}; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, behind_tls: bool) -> None:
        self.app = app
        self.behind_tls = behind_tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_tls = self.behind_tls or scope.get("scheme") == "https"

        wanted = [*_RAW_DEFAULTS, _RAW_HSTS] if over_tls else _RAW_DEFAULTS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # raw header pairs: on every answer, MutableHeaders cost more than the rest
                headers = message["headers"] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in wanted if pair[0] not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)
