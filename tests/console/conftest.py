"""Headless Chromium (Debian's) driven by Playwright, and a place for screenshots.

A browser test fails, never skips, when Chromium cannot start. Playwright's own
browsers are never downloaded: it drives /usr/bin/chromium (``ALO_CHROMIUM``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Route, expect, sync_playwright

CHROMIUM = os.environ.get("ALO_CHROMIUM", "/usr/bin/chromium")
# As root, on a machine with no network but the package registries: no sandbox, and
# none of the background connections Chromium makes at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Every wait for the page (Playwright's auto-waiting and expect) is bounded by this.
PAGE_TIMEOUT_MS = 10_000
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
expect.set_options(timeout=PAGE_TIMEOUT_MS)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """One Chromium per test module, with a fresh profile (``--user-data-dir``)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
    try:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
    except Exception as exc:
        pytest.fail(f"Chromium ({CHROMIUM}) did not start: {exc}")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab with no cookies. A script error on it fails the test, and so does a
    request for anything not on this machine (the console must work offline)."""
    browser.clear_cookies()
    tab = browser.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))

    def local_only(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith("data:") or host in LOCAL_HOSTS:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    tab.route("**/*", local_only)
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"the page raised: {errors}"
    assert not elsewhere, f"the page asked for something off this machine: {elsewhere}"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests leave pictures of the pages: ``ALO_CONSOLE_SCREENSHOTS`` if set
    (``docs/console`` holds the README's), else a temporary folder."""
    chosen = os.environ.get("ALO_CONSOLE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
