"""The dashboard at a phone's width (375 px), signed in as an admin, against the real API process
on a database of its own: no page scrolls sideways (wide tables scroll inside their own box), the
main navigation's links can be reached on every page, the filter form stacks its fields, and the
charts shrink with the window. Each page is saved as `phone-<page>` (see support.browser)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from support.api_process import RunningApi
from support.browser import PHONE, dashboard_api, screenshot, sign_in
from support.dashboard_data import MANY_LOGINS, seed_dashboard
from support.dashboard_pages import PAGE_NAMES, open_dashboard_page

pytestmark = pytest.mark.browser

ADMIN = ("admin", "phone-admin-password-1")
PageFactory = Callable[..., Page]
"""The `open_page` fixture of conftest.py."""
ADMIN_PAGES = ("Overview", "Incidents", "Logs", "Rules", "Playbooks", "Admin")

# Elements that stick out past the window's right edge, leaving out what is inside a box that
# scrolls by itself (a table in its TableScroll): what to fix when a page scrolls sideways.
SIDEWAYS_CULPRITS = """() => {
  const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const inScrollBox = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      if (scrolls(p)) return true;
    }
    return false;
  };
  return [...document.body.querySelectorAll('*')]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !inScrollBox(e))
    .slice(0, 10)
    .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
      + ` right=${Math.round(e.getBoundingClientRect().right)}`);
}"""


@pytest.fixture(scope="module")
def dashboard(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """The API serving the built dashboard on a database of its own with a row on every page."""
    directory = tmp_path_factory.mktemp("phone")
    with dashboard_api(postgres_url, "browser_phone", directory, ADMIN, MANY_LOGINS) as (api, url):
        seed_dashboard(api.base, url, ADMIN)
        yield api


@pytest.fixture
def phone(open_page: PageFactory, dashboard: RunningApi) -> Page:
    """A page at a phone's width, signed in as the admin."""
    opened = open_page(viewport=PHONE)
    sign_in(opened, dashboard, ADMIN)
    return opened


def assert_no_sideways_scroll(page: Page) -> None:
    scroll_width, window_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= window_width, (
        f"the page is {scroll_width} px wide in a {window_width} px window; sticking out: "
        f"{page.evaluate(SIDEWAYS_CULPRITS)}"
    )


def assert_navigation_reachable(page: Page) -> None:
    """Every main navigation link is visible inside the window, at once or after one press of
    a menu button (a toggle with aria-expanded) when the layout hides them behind one."""
    navigation = page.get_by_role("navigation", name="Main")
    links = navigation.get_by_role("link")
    expect(links.first).to_be_attached()
    toggle = page.locator("header button[aria-expanded]")
    if not links.first.is_visible() and toggle.count():
        toggle.first.press("Enter")
        expect(toggle.first).to_have_attribute("aria-expanded", "true")
    names = links.all_inner_texts()
    assert set(ADMIN_PAGES) <= {name.strip() for name in names}, names
    window_width = page.evaluate("() => window.innerWidth")
    for link in links.all():
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0, f"{link.inner_text()!r} starts left of the window: {box}"
        assert box["x"] + box["width"] <= window_width, (
            f"{link.inner_text()!r} ends right of the window: {box}"
        )


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_a_page_fits_a_phone_and_its_navigation_is_reachable(
    phone: Page, dashboard: RunningApi, name: str
) -> None:
    open_dashboard_page(phone, dashboard.base, name)
    assert_no_sideways_scroll(phone)
    assert_navigation_reachable(phone)
    screenshot(phone, f"phone-{name}")


def test_a_manifest_shown_on_the_rules_page_fits_a_phone(
    phone: Page, dashboard: RunningApi
) -> None:
    open_dashboard_page(phone, dashboard.base, "rules")
    phone.get_by_role("button", name="Show").first.click()
    expect(phone.locator("pre.manifest")).to_be_visible()
    assert_no_sideways_scroll(phone)


def test_a_wide_table_scrolls_inside_its_own_box(phone: Page, dashboard: RunningApi) -> None:
    open_dashboard_page(phone, dashboard.base, "logs")
    box = phone.get_by_role("region", name="Log lines")
    widths = box.evaluate("(e) => [e.scrollWidth, e.clientWidth]")
    assert widths[0] > widths[1], f"the log table fits without scrolling: {widths}"
    assert_no_sideways_scroll(phone)


def test_the_filter_form_stacks_its_fields(phone: Page, dashboard: RunningApi) -> None:
    open_dashboard_page(phone, dashboard.base, "incidents")
    phase = phone.get_by_label("Phase").bounding_box()
    severity = phone.get_by_label("Severity").bounding_box()
    assert phase is not None
    assert severity is not None
    assert severity["y"] >= phase["y"] + phase["height"], "Severity is not below Phase"
    assert abs(severity["x"] - phase["x"]) < 1, "the fields do not start at the same left edge"


def test_the_charts_shrink_with_the_window(open_page: PageFactory, dashboard: RunningApi) -> None:
    page = open_page()
    sign_in(page, dashboard, ADMIN)
    open_dashboard_page(page, dashboard.base, "overview")
    desktop_width = page.locator("canvas").first.evaluate("(c) => c.getBoundingClientRect().width")
    assert desktop_width > PHONE["width"], desktop_width
    page.set_viewport_size(PHONE)
    page.wait_for_function(
        """() => {
          const charts = [...document.querySelectorAll('canvas')];
          return charts.length > 0
            && charts.every((c) => c.getBoundingClientRect().right <= window.innerWidth);
        }"""
    )
    assert_no_sideways_scroll(page)
