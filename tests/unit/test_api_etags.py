"""Entity tags on the API's GET answers: a poller that sends the tag back gets a bodiless 304
while the answer is the same, and the new body once it changes; other answers are untouched."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from logsentinel.api.etags import EntityTagMiddleware, matches

state = {"value": 1}


def read(request: Request) -> Response:
    return JSONResponse({"value": state["value"]}, headers={"cache-control": "no-store"})


def missing(request: Request) -> Response:
    return JSONResponse({"detail": "no such thing"}, status_code=404)


def client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/api/v1/thing", read),
            Route("/api/v1/missing", missing),
            Route("/healthz", read),
        ]
    )
    app.add_middleware(EntityTagMiddleware)
    return TestClient(app)


def test_an_unchanged_answer_is_a_304_without_a_body_and_a_changed_one_is_sent() -> None:
    state["value"] = 1
    api = client()
    first = api.get("/api/v1/thing")
    tag = first.headers["etag"]
    again = api.get("/api/v1/thing", headers={"If-None-Match": tag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == tag
    assert again.headers["cache-control"] == "no-store", "still never cached by the browser"
    state["value"] = 2
    changed = api.get("/api/v1/thing", headers={"If-None-Match": tag})
    assert (changed.status_code, changed.json()) == (200, {"value": 2})
    assert changed.headers["etag"] != tag


def test_errors_other_paths_and_other_methods_carry_no_tag() -> None:
    api = client()
    assert "etag" not in api.get("/api/v1/missing").headers
    assert "etag" not in api.get("/healthz").headers


def test_if_none_match_lists_and_weak_tags_match() -> None:
    assert matches('"a", W/"b"', '"b"')
    assert matches("*", '"b"')
    assert not matches('"a"', '"b"')
