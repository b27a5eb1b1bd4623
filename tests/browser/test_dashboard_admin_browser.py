"""The dashboard's editors and admin page in a real browser (Debian's Chromium driven by
Playwright) against the real API process and PostgreSQL: a rule written on the Rules page with a
wrong field (the API's error shown against the field and its line, then fixed, saved, listed,
readable through the API and backtested over stored logs), a user and an ingest key created on
the Admin page (the key, shown once, works for ingest), and an operator offered neither the
admin page nor the playbook editor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.api_process import RunningApi
from support.browser import dashboard_api, screenshot, sign_in

pytestmark = pytest.mark.browser

ADMIN = ("admin", "browser-admin-password-2")
OPERATOR = ("olga", "operator-password-456")
ERROR_LINES = 8
"""Error lines of checkout stored before the tests: enough for the rule's threshold."""


def _headers(api: RunningApi, user: tuple[str, str]) -> dict[str, str]:
    answer = httpx.post(
        f"{api.base}/api/v1/auth/login", json={"username": user[0], "password": user[1]}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _record(message: str, seconds_ago: int = 0) -> dict[str, str]:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {
        "timestamp": at.isoformat(),
        "level": "error",
        "message": message,
        "service": "checkout",
        "namespace": "shop",
    }


def _seed(api: RunningApi) -> None:
    """An operator, a playbook, and error lines of checkout ingested through the API."""
    admin = _headers(api, ADMIN)
    answer = httpx.post(
        f"{api.base}/api/v1/users",
        json={"username": OPERATOR[0], "password": OPERATOR[1], "role": "operator"},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    playbook = {"mode": "dryRun", "steps": [{"type": "rolloutRestart"}]}
    answer = httpx.put(f"{api.base}/api/v1/playbooks/shop/restart", json=playbook, headers=admin)
    assert answer.status_code == 201, answer.text
    records = [_record(f"card declined {n}", seconds_ago=n) for n in range(ERROR_LINES)]
    answer = httpx.post(f"{api.base}/api/v1/ingest", json=records, headers=admin)
    assert answer.status_code == 202, answer.text


@pytest.fixture(scope="module")
def dashboard(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """The API serving the built dashboard on a database of its own, seeded."""
    directory = tmp_path_factory.mktemp("browser-admin")
    with dashboard_api(postgres_url, "browser_admin", directory, ADMIN) as (api, _):
        _seed(api)
        yield api


def test_an_admin_writes_a_rule_fixes_the_field_the_api_refused_and_saves_it(
    page: Page, dashboard: RunningApi
) -> None:
    api = dashboard
    sign_in(page, api, ADMIN)
    page.goto(f"{api.base}/#/rules")
    page.get_by_role("button", name="New rule").click()
    form = page.get_by_role("form", name="New rule")
    form.get_by_label("Namespace", exact=True).fill("shop")
    form.get_by_label("Name", exact=True).fill("checkout-errors")
    spec = form.get_by_label("Spec (YAML)")
    example = spec.input_value()
    assert "window: 1m" in example, "the new rule starts from the example"
    spec.fill(example.replace("window: 1m", 'window: "soon"'))
    form.get_by_role("button", name="Create rule").click()

    problem = form.get_by_role("alert").get_by_role("listitem")
    expect(problem).to_contain_text("spec.detector.threshold.window (line 12)")
    expect(problem).to_contain_text("invalid duration 'soon'")
    expect(spec).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".gutter-marked")).to_have_text("12")
    screenshot(page, "rule-editor")
    problem.get_by_role("button", name="line 12").click()
    expect(spec).to_be_focused()

    spec.fill(example.replace("window: 1m", "window: 2m"))
    form.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("status")).to_have_text("Created rule shop/checkout-errors.")
    expect(page.get_by_role("region", name="Detection rules")).to_contain_text(
        "shop/checkout-errors"
    )
    selected = page.get_by_role("button", name="Hide shop/checkout-errors")
    expect(selected).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("heading", name="shop/checkout-errors")).to_be_visible()
    answer = httpx.get(
        f"{api.base}/api/v1/rules/shop/checkout-errors", headers=_headers(api, ADMIN)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["spec"]["detector"]["threshold"] == {"count": 5, "window": "2m"}

    # the saved rule, backtested over the error lines stored before the test
    page.get_by_role("button", name="Edit shop/checkout-errors").click()
    page.get_by_role("button", name="Backtest", exact=True).click()
    result = page.get_by_role("region", name="Backtest result")
    expect(result).to_be_visible()
    incidents = result.get_by_role("region", name="Incidents the rule would have opened")
    expect(incidents.get_by_role("cell", name="shop/checkout", exact=True)).to_be_visible()
    records = int(result.locator("dt:text-is('Records read') + dd").inner_text().replace(",", ""))
    assert records >= ERROR_LINES


def test_an_admin_creates_a_user_and_an_ingest_key_that_works(
    page: Page, dashboard: RunningApi
) -> None:
    api = dashboard
    sign_in(page, api, ADMIN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    users = page.get_by_role("region", name="Users")
    new_user = users.get_by_role("form", name="New user")
    new_user.get_by_label("Username").fill("petra")
    new_user.get_by_label("Password").fill("too-short")
    new_user.get_by_label("Role").select_option("operator")
    new_user.get_by_role("button", name="Create user").click()
    expect(new_user.get_by_role("alert")).to_contain_text(
        "password: String should have at least 12 characters"
    )
    new_user.get_by_label("Password").fill("petra-password-123")
    new_user.get_by_role("button", name="Create user").click()
    expect(users.get_by_role("status")).to_have_text("Created user petra (operator).")
    expect(users.get_by_role("cell", name="petra", exact=True)).to_be_visible()
    assert _headers(api, ("petra", "petra-password-123")), "the new user signs in"

    keys = page.get_by_role("region", name="Ingest API keys")
    new_key = keys.get_by_role("form", name="New ingest key")
    new_key.get_by_label("Key name").fill("fluent-bit")
    new_key.get_by_role("button", name="Create key").click()
    secret = keys.get_by_label("Secret of key fluent-bit")
    expect(secret).to_have_value(re.compile(r"^lsk_"))
    expect(secret).to_have_attribute("readonly", "")
    expect(keys.get_by_text("it is shown only this once")).to_be_visible()
    key = secret.input_value()
    screenshot(page, "admin")

    answer = httpx.post(
        f"{api.base}/api/v1/ingest",
        json=[_record("sent with the new key")],
        headers={"X-API-Key": key},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1

    keys.get_by_role("button", name="Done").click()
    expect(secret).to_have_count(0)
    assert key not in page.content(), "the secret is shown once only"


def test_an_operator_has_no_admin_page_and_no_playbook_editor(
    page: Page, dashboard: RunningApi
) -> None:
    api = dashboard
    sign_in(page, api, OPERATOR)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Playbooks")).to_be_visible()
    expect(navigation.get_by_role("link", name="Admin")).to_have_count(0)

    page.goto(f"{api.base}/#/admin")
    expect(page.get_by_role("heading", name="Not available")).to_be_visible()
    expect(page.get_by_role("form", name="New user")).to_have_count(0)

    page.goto(f"{api.base}/#/playbooks")
    page.get_by_role("button", name="Show shop/restart").click()
    expect(page.get_by_role("heading", name="shop/restart")).to_be_visible()
    expect(page.get_by_text("Read-only for your role: admins change playbooks.")).to_be_visible()
    assert page.get_by_role("button", name="New playbook").count() == 0
    assert page.get_by_role("button", name="Edit shop/restart").count() == 0
    assert page.get_by_role("button", name="Delete shop/restart").count() == 0
    assert page.get_by_label("Spec (YAML)").count() == 0
