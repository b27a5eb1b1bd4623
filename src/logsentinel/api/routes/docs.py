"""The OpenAPI document (/openapi.json) and its Swagger UI (/docs), for the audience that
LOGSENTINEL_DOCS_ACCESS names: anyone, signed-in users (any role; ingest keys are refused), or
nobody (not served)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from logsentinel.api.deps import allow
from logsentinel.api.headers import page_policy

SWAGGER_ASSETS = "https://cdn.jsdelivr.net"  # where FastAPI's Swagger UI page loads it from
SWAGGER_ICON = "https://fastapi.tiangolo.com"


def add_docs(app: FastAPI, access: Literal["open", "authenticated", "disabled"]) -> None:
    if access == "disabled":
        return
    router = APIRouter(
        include_in_schema=False,
        dependencies=[Depends(allow("viewer"))] if access == "authenticated" else [],
    )

    @router.get("/openapi.json")
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title=f"{app.title} - Swagger UI"
        )
        page.headers["content-security-policy"] = page_policy(
            bytes(page.body).decode(),
            scripts=SWAGGER_ASSETS,
            # Swagger UI sets style attributes in its markup
            styles=f"{SWAGGER_ASSETS} 'unsafe-inline'",
            images=f"'self' data: {SWAGGER_ICON}",
        )
        return page

    app.include_router(router)
