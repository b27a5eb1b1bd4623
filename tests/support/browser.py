"""Helpers for the browser tests (tests/browser): the system Chromium, a fresh database per
module, signing in, and screenshots.

With LOGSENTINEL_SCREENSHOTS set to a directory (`make screenshots` uses docs/screenshots), each
page is saved there as it is checked."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect
from psycopg import sql

from devstack.pytest_plugin import with_database
from logsentinel.api.routes.web import PACKAGED
from logsentinel.storage import migrate
from support.api_process import RunningApi, api_process

TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
"""A phone's width, as the dashboard is checked at."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("no Chromium: `apt install chromium` (tools/install-prerequisites.sh does)")
    return found


def require_built_dashboard() -> None:
    if not (PACKAGED / "index.html").is_file():
        pytest.fail(f"the dashboard is not built into {PACKAGED}: run `make web`")


@contextmanager
def dashboard_api(
    postgres_url: str,
    database: str,
    directory: Path,
    admin: tuple[str, str],
    environment: dict[str, str] | None = None,
) -> Iterator[tuple[RunningApi, str]]:
    """The API process serving the built dashboard on a new, migrated database ``database``;
    yields it with the database's URL (for seeding)."""
    require_built_dashboard()
    database_url = fresh_database(postgres_url, database)
    migrate.upgrade(database_url)
    with api_process(database_url, directory, admin, environment) as api:
        yield api, database_url


def fresh_database(postgres_url: str, name: str) -> str:
    """A new, empty database ``name`` on the server (dropped first when it exists)."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(postgres_url, name)


def screenshot(page: Page, name: str) -> None:
    directory = os.environ.get("LOGSENTINEL_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def sign_in(page: Page, api: RunningApi, user: tuple[str, str]) -> None:
    page.goto(f"{api.base}/")
    page.get_by_label("Username").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
