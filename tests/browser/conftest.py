"""Fixtures of the browser tests: one Chromium per module (Playwright driving Debian's
package), and pages that fail their test when the browser reports a Content-Security-Policy
violation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from support.browser import DESKTOP, TIMEOUT_MS, chromium

PageFactory = Callable[..., Page]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module: Playwright's synchronous API keeps an event loop in the main
    thread while it runs, which later tests that start their own (anyio.run) cannot share."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[PageFactory]:
    """Opens pages in contexts of their own (``viewport=PHONE`` for a phone's width); each
    fails the test at teardown when the browser reported a Content-Security-Policy violation."""
    contexts = []
    violations: list[str] = []

    def open_(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or DESKTOP)
        contexts.append(context)
        opened = context.new_page()
        opened.set_default_timeout(TIMEOUT_MS)

        def watch(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                violations.append(message.text)

        opened.on("console", watch)
        return opened

    yield open_
    for context in contexts:
        context.close()
    assert violations == [], "the page broke the Content-Security-Policy"


@pytest.fixture
def page(open_page: PageFactory) -> Page:
    """A page at a desktop's width."""
    return open_page()
