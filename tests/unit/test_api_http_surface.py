"""The API's HTTP middlewares on a small app of their own: body limits, security headers, and the
Content-Security-Policy of the Swagger UI page."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.testclient import TestClient

from logsentinel.api.bodylimit import BodyLimit, BodyLimitMiddleware
from logsentinel.api.headers import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware, page_policy


def echo_app(behind_tls: bool = False) -> tuple[FastAPI, list[int]]:
    """An app whose routes answer how many body bytes they read; `reads` records each."""
    app = FastAPI()
    reads: list[int] = []

    @app.post("/small")
    @app.post("/big")
    async def read(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"read": len(body)}

    @app.get("/own-policy")
    def own_policy() -> Response:
        return Response("x", headers={"Content-Security-Policy": "default-src 'none'"})

    app.add_middleware(
        BodyLimitMiddleware,
        default=BodyLimit(1024, "SMALL"),
        paths={"/big": BodyLimit(4096, "BIG")},
    )
    app.add_middleware(SecurityHeadersMiddleware, behind_tls=behind_tls)
    return app, reads


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    app, reads = echo_app()
    client = TestClient(app)
    answer = client.post("/small", content=b"x" * 1025)
    assert answer.status_code == 413
    assert answer.json() == {
        "detail": "the request body is over 1024 bytes, the limit here (SMALL)"
    }
    assert answer.headers["connection"] == "close"
    assert reads == [], "the route never ran"
    assert client.post("/big", content=b"x" * 4096).json() == {"read": 4096}, "its own limit"
    assert client.post("/big", content=b"x" * 4097).status_code == 413


def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit() -> None:
    app, reads = echo_app()
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 512
            yield b"x" * 512

    answer = TestClient(app).post("/small", content=chunks())
    assert answer.status_code == 413
    assert "over 1024 bytes" in answer.json()["detail"]
    assert answer.headers["connection"] == "close"
    assert reads == []


def test_security_headers_are_added_unless_the_answer_has_its_own() -> None:
    app, _ = echo_app()
    client = TestClient(app)
    answer = client.post("/small", content=b"{}")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in answer.headers
    assert client.get("/own-policy").headers["content-security-policy"] == "default-src 'none'"
    assert client.get("/nowhere").headers["x-frame-options"] == "DENY", "errors too"


def test_hsts_over_tls_or_behind_it() -> None:
    plain, _ = echo_app()
    over_tls = TestClient(plain, base_url="https://testserver").get("/own-policy")
    assert over_tls.headers["strict-transport-security"] == "max-age=31536000"
    behind, _ = echo_app(behind_tls=True)
    answer = TestClient(behind).get("/own-policy")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_the_swagger_page_policy_admits_its_inline_script_and_no_other() -> None:
    html = bytes(get_swagger_ui_html(openapi_url="/openapi.json", title="t").body).decode()
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(inline) == 1
    policy = page_policy(html, "https://cdn.example", "https://cdn.example", "'self'")
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    script_src = policy.split("script-src ")[1].split(";")[0].split()
    assert script_src == ["https://cdn.example", f"'sha256-{digest}'"]
    assert "frame-ancestors 'none'" in policy
