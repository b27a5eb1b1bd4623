"""The dashboard's TypeScript types are generated from web/openapi.json: that copy must be the
API's current document, or the types describe an API that no longer exists."""

from __future__ import annotations

import json

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from support.node import REPO


def test_the_dashboards_copy_of_the_openapi_document_is_current() -> None:
    settings = ApiSettings(database_url="postgresql://x@localhost/x", jwt_secret="x" * 40)
    current = create_app(settings).openapi()
    committed = json.loads((REPO / "web" / "openapi.json").read_text())
    assert committed == current, (
        "web/openapi.json is stale: run `npm run openapi && npm run generate` in web/ "
        "and commit both files"
    )
