"""Debian's Chromium driven by Playwright, for the tests where a page matters."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# No network of its own (updates, sync, QUIC probes): a page's requests are all the test's.
QUIET_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]


@contextmanager
def chromium(why: str) -> Iterator[Browser]:
    """The browser, or the test skipped saying `why` it needed one (.ci/run installs it)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip(f"Chromium is not installed (Debian: apt-get install chromium); {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=QUIET_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
