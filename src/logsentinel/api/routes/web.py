"""The dashboard: the single-page app built from ``web/`` (``make web``), served at ``/``.

Its assets (content-hashed file names under ``/assets``) may be cached for a year; any other
GET that is not the API's answers ``index.html``, so the app's own paths survive a reload. The
API's security headers apply (a same-origin Content-Security-Policy: no inline script or style).
Without a built app, ``/`` says how to build it (503) and other paths are not found.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

PACKAGED = Path(__file__).resolve().parent.parent / "web"
"""Where the wheel and the image carry the built app."""
ASSETS = "assets"
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = (
    "<!doctype html><title>Log Sentinel</title><h1>The dashboard is not built</h1>"
    "<p>Run <code>make web</code> (it needs Node.js) and start the API again, or set "
    "LOGSENTINEL_WEB_DIRECTORY to a built <code>web/dist</code>. The API itself is under "
    "<a href='/docs'>/docs</a>.</p>"
)
RESERVED = ("api/", "docs", "redoc", "openapi.json", "metrics", "healthz", "readyz")
"""Paths the dashboard never answers: unknown ones there stay 404."""


def web_directory(configured: Path | None) -> Path | None:
    """The directory holding the built app's index.html: the configured one, else the packaged
    one; None when neither has it."""
    for candidate in (configured, PACKAGED):
        if candidate is not None and (candidate / "index.html").is_file():
            return candidate.resolve()
    return None


def add_web(app: FastAPI, configured: Path | None) -> None:
    """Register the dashboard's routes last (every API route wins over them)."""
    directory = web_directory(configured)
    router = APIRouter(include_in_schema=False)

    @router.get("/{path:path}")
    def dashboard(path: str) -> Response:
        if path.startswith(RESERVED):
            raise HTTPException(404, "Not Found")
        if directory is None:
            if path:
                raise HTTPException(404, "Not Found")
            return HTMLResponse(NOT_BUILT, status_code=503)
        if path.startswith(f"{ASSETS}/"):
            asset = (directory / path).resolve()
            if not asset.is_relative_to(directory / ASSETS) or not asset.is_file():
                raise HTTPException(404, "Not Found")
            return FileResponse(asset, headers={"cache-control": IMMUTABLE})
        return FileResponse(directory / "index.html", media_type="text/html")

    app.include_router(router)
