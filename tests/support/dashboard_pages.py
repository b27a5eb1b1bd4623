"""The dashboard's pages as the browser tests visit them: where each one is, and what shows that
it has loaded its rows (the data of `support.dashboard_data`), so that a check of the layout or
of accessibility looks at a filled page rather than at "Loading…"."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, expect

from support.dashboard_data import INCIDENT, PLAYBOOK, RULE


@dataclass(frozen=True)
class DashboardPage:
    name: str
    route: str
    """The hash route, e.g. ``/incidents``."""
    loaded: Callable[[Page], Locator]
    """Something on the page that shows once its data is there."""


def _charts_with_data(page: Page) -> Locator:
    # each chart's accessible name lists its series, or says "no data" before the stats arrive
    return page.get_by_role("img", name=re.compile(r"Log lines per interval.*checkout"))


PAGES = (
    DashboardPage("overview", "/", _charts_with_data),
    DashboardPage("incidents", "/incidents", lambda page: page.get_by_role("link", name=INCIDENT)),
    DashboardPage(
        "incident",
        f"/incidents/{INCIDENT}",
        lambda page: page.get_by_role("heading", name="Evidence"),
    ),
    DashboardPage("logs", "/logs?q=settled", lambda page: page.get_by_text("settled late").first),
    DashboardPage(
        "rules", "/rules", lambda page: page.get_by_role("cell", name="/".join(RULE)).first
    ),
    DashboardPage(
        "playbooks",
        "/playbooks",
        lambda page: page.get_by_role("cell", name="/".join(PLAYBOOK)).first,
    ),
    DashboardPage(
        "admin",
        "/admin",
        lambda page: page.get_by_role("region", name="User list"),
    ),
)
PAGE_NAMES = [page.name for page in PAGES]


def page_named(name: str) -> DashboardPage:
    return next(page for page in PAGES if page.name == name)


def open_dashboard_page(page: Page, base: str, name: str) -> None:
    """Go to page ``name`` of the signed-in dashboard and wait until its data is shown."""
    wanted = page_named(name)
    page.goto(f"{base}/#{wanted.route}")
    expect(wanted.loaded(page)).to_be_visible()
