"""The dashboard as `make web` packages it, served by the real API: the page and its assets
under the API's security headers, the API's own paths untouched. (`make test` builds the
dashboard first; its own tests are web/'s Vitest suite.)"""

from __future__ import annotations

import re

import pytest

from logsentinel.api.routes.web import PACKAGED
from logsentinel.storage import migrate
from support.api import logged_in_api

pytestmark = pytest.mark.integration


def test_the_api_serves_the_built_dashboard(database_url: str) -> None:
    if not (PACKAGED / "index.html").is_file():
        pytest.fail(f"the dashboard is not built into {PACKAGED}: run `make web`")
    migrate.upgrade(database_url)
    with logged_in_api(database_url) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert '<div id="root"></div>' in page.text
        assert "script-src" not in page.headers["content-security-policy"]  # 'self' only
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        scripts = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
        assert scripts, page.text
        for script in scripts:
            asset = client.get(script)
            assert asset.status_code == 200
            assert "javascript" in asset.headers["content-type"]
            assert "immutable" in asset.headers["cache-control"]
        assert client.get("/incidents/some-name").text == page.text  # the app's own paths
        assert client.get("/api/v1/auth/me").json()["role"] == "admin"
