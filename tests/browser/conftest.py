"""Headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.marionette import FIREFOX, Marionette, firefox

CHROMIUM = Path("/usr/bin/chromium")
# Without these, Chromium keeps trying to reach Google on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: Playwright's sync API keeps an event loop running in the
    # main thread while it is open, which async tests elsewhere cannot share.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def firefox_session() -> Iterator[Marionette]:
    """Debian's Firefox ESR, headless, driven through Marionette."""
    if not FIREFOX.exists():
        pytest.fail(f"{FIREFOX} is missing: make test installs Debian's firefox-esr package")
    with firefox() as session:
        yield session
