"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against the real API
process and PostgreSQL: sign-in per role, a log line holding markup shown as text, search
paging with "Load more", the overview's charts drawn from stored logs, an incident acknowledged
and commented on from its page, and no Content-Security-Policy violation on any page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.api_process import RunningApi
from support.browser import dashboard_api, screenshot, sign_in
from support.incidents import open_sample_incident

pytestmark = pytest.mark.browser

ADMIN = ("admin", "browser-admin-password-1")
VIEWER = ("vera", "viewer-password-123")
OPERATOR = ("otto", "operator-password-123")
HOSTILE_LINE = "<script>alert('owned')</script> payment gateway timeout"
SEARCHABLE = 120
"""Lines that match the paging search: more than one page of results."""


def _seed(api: RunningApi, database_url: str) -> None:
    """Users per role, an incident, and logs ingested through the API."""
    token = httpx.post(
        f"{api.base}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    for (name, password), role in ((VIEWER, "viewer"), (OPERATOR, "operator")):
        answer = httpx.post(
            f"{api.base}/api/v1/users",
            json={"username": name, "password": password, "role": role},
            headers=admin,
        )
        assert answer.status_code == 201, answer.text
    open_sample_incident(database_url, "checkout-burst", "high", minutes_ago=2)
    now = datetime.now(UTC)
    records = [
        {
            "timestamp": (now - timedelta(seconds=n)).isoformat(),
            "level": "error" if n % 3 == 0 else "info",
            "message": f"order {n} settled late",
            "service": "checkout",
            "namespace": "shop",
        }
        for n in range(SEARCHABLE)
    ]
    records.append(
        {
            "timestamp": now.isoformat(),
            "level": "error",
            "message": HOSTILE_LINE,
            "service": "payments",
            "namespace": "shop",
        }
    )
    answer = httpx.post(f"{api.base}/api/v1/ingest", json=records, headers=admin)
    assert answer.status_code == 202, answer.text


@pytest.fixture(scope="module")
def dashboard(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """The API serving the built dashboard on a database of its own, seeded."""
    directory = tmp_path_factory.mktemp("browser")
    with dashboard_api(postgres_url, "browser_dashboard", directory, ADMIN) as (api, url):
        _seed(api, url)
        yield api


def test_a_viewer_signs_in_and_sees_charts_drawn_from_stored_logs(
    page: Page, dashboard: RunningApi
) -> None:
    api = dashboard
    sign_in(page, api, VIEWER)
    expect(
        page.get_by_role("img", name=re.compile(r"Log lines per interval.*checkout"))
    ).to_be_visible()
    expect(page.get_by_role("region", name="Top templates")).to_contain_text("settled late")
    expect(page.get_by_text("Status", exact=True)).to_be_visible()
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('canvas')].map(c => c.width * c.height)"
    )
    assert drawn, "no chart on the overview"
    assert all(area > 0 for area in drawn)
    navigation = page.get_by_role("navigation", name="Main").inner_text()
    assert "Incidents" in navigation
    assert "Rules" not in navigation, "a viewer has no rules page"
    screenshot(page, "overview")


def test_a_log_line_holding_markup_is_shown_as_text(page: Page, dashboard: RunningApi) -> None:
    api = dashboard
    sign_in(page, api, OPERATOR)
    page.goto(f"{api.base}/#/logs")
    page.get_by_label("Search text").fill("gateway")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text(HOSTILE_LINE)).to_be_visible()
    scripts = page.evaluate("() => document.querySelectorAll('script').length")
    assert scripts == 1, "only the app's own module script"
    screenshot(page, "logs")


def test_search_pages_with_load_more_until_every_line_is_shown(
    page: Page, dashboard: RunningApi
) -> None:
    api = dashboard
    sign_in(page, api, ADMIN)
    page.goto(f"{api.base}/#/logs")
    page.get_by_label("Search text").fill("settled")
    page.get_by_role("button", name="Search").click()
    lines = page.get_by_text("settled late")
    expect(lines.first).to_be_visible()
    first_page = lines.count()
    assert 0 < first_page < SEARCHABLE
    more = page.get_by_role("button", name="Load more")
    while more.count():
        before = lines.count()
        more.click()
        expect(lines).not_to_have_count(before)
    assert lines.count() == SEARCHABLE


def test_an_operator_acknowledges_and_comments_on_an_incident_from_its_page(
    page: Page, dashboard: RunningApi
) -> None:
    api = dashboard
    sign_in(page, api, OPERATOR)
    page.goto(f"{api.base}/#/incidents")
    page.get_by_role("link", name="checkout-burst").click()
    expect(page.get_by_role("heading", name="Evidence")).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text(f"by {OPERATOR[0]}")
    page.get_by_label("Comment").fill("looking at the card processor")
    page.get_by_role("button", name="Add comment").click()
    expect(timeline).to_contain_text("looking at the card processor")
    screenshot(page, "incident")
    page.goto(f"{api.base}/#/incidents")
    expect(page.get_by_role("link", name="checkout-burst")).to_be_visible()
    screenshot(page, "incidents")


def test_a_viewer_reads_an_incident_but_has_no_buttons(page: Page, dashboard: RunningApi) -> None:
    api = dashboard
    sign_in(page, api, VIEWER)
    page.goto(f"{api.base}/#/incidents/checkout-burst")
    expect(page.get_by_role("heading", name="Evidence")).to_be_visible()
    expect(page.get_by_text("read-only access")).to_be_visible()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
