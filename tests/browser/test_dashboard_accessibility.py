"""Accessibility of the dashboard in a real browser against the real API process: axe-core
(web/node_modules/axe-core, a dev dependency of web/) on the login page and every signed-in page,
at a desktop's and a phone's width, in light and in dark mode, must find no violation of impact
"serious" or "critical"; and the keyboard alone gets from the top of the page to the skip link,
the navigation and another page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, expect

from support.api_process import RunningApi
from support.browser import (
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    dashboard_api,
    sign_in,
)
from support.dashboard_data import MANY_LOGINS, seed_dashboard
from support.dashboard_pages import PAGE_NAMES, open_dashboard_page

pytestmark = pytest.mark.browser

ADMIN = ("admin", "a11y-admin-password-12")
AXE_SOURCE = Path(__file__).resolve().parents[2] / "web/node_modules/axe-core/axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}

Violation = dict[str, Any]
ColorScheme = Literal["light", "dark"]
PageOpener = Callable[..., Page]


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_SOURCE.is_file():
        pytest.fail(f"axe-core is not installed ({AXE_SOURCE} is missing): run `npm ci` in web/")
    return AXE_SOURCE.read_text()


@pytest.fixture(scope="module")
def dashboard(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """The API serving the built dashboard on a database of its own with a row on every page."""
    directory = tmp_path_factory.mktemp("a11y")
    with dashboard_api(postgres_url, "browser_a11y", directory, ADMIN, MANY_LOGINS) as (api, url):
        seed_dashboard(api.base, url, ADMIN)
        yield api


@pytest.fixture
def open_audited_page(browser: Browser) -> Iterator[PageOpener]:
    """Pages in contexts of their own, in which axe can be injected."""
    contexts = []

    def open_(viewport: dict[str, int], color_scheme: ColorScheme = "light") -> Page:
        # The API's Content-Security-Policy allows only the app's own scripts from its own
        # origin, so axe's source, added as an inline <script>, would be refused: this context
        # ignores the policy. (The CSP itself is checked by the other browser tests.)
        context = browser.new_context(
            viewport=viewport,
            color_scheme=color_scheme,
            bypass_csp=True,
        )
        contexts.append(context)
        opened = context.new_page()
        opened.set_default_timeout(TIMEOUT_MS)
        return opened

    yield open_
    for context in contexts:
        context.close()


def blocking_violations(page: Page, axe_source: str) -> list[Violation]:
    """axe's violations of impact serious or critical on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source)
    found: list[Violation] = page.evaluate(
        """async () => {
          const results = await window.axe.run(document, { resultTypes: ['violations'] });
          return results.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            targets: v.nodes.map((n) => n.target.join(' ')),
          }));
        }"""
    )
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: dict[str, list[Violation]]) -> str:
    return "\n".join(
        f"{page}: {v['impact']} {v['id']} ({v['help']}) at {v['targets'][:5]}"
        for page, found in violations.items()
        for v in found
    )


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_axe_finds_no_serious_violation_on_any_page(
    open_audited_page: PageOpener,
    dashboard: RunningApi,
    axe_source: str,
    width: str,
    color_scheme: ColorScheme,
) -> None:
    page = open_audited_page(WIDTHS[width], color_scheme)
    page.goto(f"{dashboard.base}/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    violations = {"login": blocking_violations(page, axe_source)}
    sign_in(page, dashboard, ADMIN)
    for name in PAGE_NAMES:
        open_dashboard_page(page, dashboard.base, name)
        violations[name] = blocking_violations(page, axe_source)
    assert page.evaluate("() => typeof window.axe === 'object'"), "axe did not run"
    found = {page_name: v for page_name, v in violations.items() if v}
    assert not found, f"axe ({width}, {color_scheme} mode):\n{describe(found)}"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_keyboard_reaches_the_navigation_from_the_top_and_changes_the_page(
    open_audited_page: PageOpener, dashboard: RunningApi, width: str
) -> None:
    page = open_audited_page(WIDTHS[width])
    sign_in(page, dashboard, ADMIN)
    # a fresh load of the signed-in dashboard (the refresh token is kept for the tab): the
    # focus starts at the top of the document
    page.reload()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="Skip to content")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()
    logs = page.get_by_role("navigation", name="Main").get_by_role("link", name="Logs")
    for _ in range(10):  # the brand and the links before Logs
        page.keyboard.press("Tab")
        if logs.evaluate("(link) => link === document.activeElement"):
            break
    expect(logs).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{dashboard.base}/#/logs")
    expect(page.get_by_role("heading", name="Logs", level=1)).to_be_focused()


def test_the_skip_link_moves_the_focus_to_the_content(
    open_audited_page: PageOpener, dashboard: RunningApi
) -> None:
    page = open_audited_page(DESKTOP)
    sign_in(page, dashboard, ADMIN)
    page.reload()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)")
