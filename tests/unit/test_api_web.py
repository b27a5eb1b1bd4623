"""The dashboard's routes on a small app: the built index for the app's own paths, cacheable
assets, no escape from the assets directory, the API's paths left alone, and a page that says
how to build the dashboard when it is not built."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from logsentinel.api.headers import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware
from logsentinel.api.routes import web


def app_with(directory: Path | None, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(web, "PACKAGED", Path("/nonexistent"))
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/v1/auth/me")
    def me() -> dict[str, str]:
        return {"username": "ada"}

    app.add_middleware(SecurityHeadersMiddleware, behind_tls=False)
    web.add_web(app, directory)
    return TestClient(app)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-3f2a.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not an asset")
    return tmp_path


def test_the_apps_own_paths_answer_the_index_under_the_strict_policy(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_with(built, monkeypatch)
    for path in ("/", "/incidents/payment-errors-1", "/logs?q=timeout"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "id=root" in answer.text
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["cache-control"] == "no-store"


def test_assets_are_cacheable_and_nothing_outside_them_is_served(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_with(built, monkeypatch)
    asset = client.get("/assets/index-3f2a.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == web.IMMUTABLE
    assert client.get("/assets/missing.js").status_code == 404
    for escape in ("/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/secret.txt"):
        assert "not an asset" not in client.get(escape).text, escape


def test_the_api_keeps_its_paths(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app_with(built, monkeypatch)
    assert client.get("/api/v1/auth/me").json() == {"username": "ada"}
    assert client.get("/api/v1/nothing").status_code == 404
    assert client.get("/api/v1/nothing").headers["content-type"] == "application/json"
    for reserved in ("/openapi.json", "/docs", "/redoc", "/metrics"):
        assert client.get(reserved).status_code == 404, reserved


def test_without_a_build_the_page_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch) -> None:
    client = app_with(None, monkeypatch)
    answer = client.get("/")
    assert answer.status_code == 503
    assert "make web" in answer.text
    assert client.get("/incidents").status_code == 404
