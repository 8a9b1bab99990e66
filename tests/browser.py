"""A real headless browser for tests: Debian's chromium driven by Playwright's async API.

scripts/fetch-tools.sh (`make tools`) extracts Debian's chromium into .tools/chromium and writes the
.tools/bin/chromium wrapper; Playwright (a dev dependency) launches that wrapper. Where chromium could not be
fetched (no apt), the fixtures skip with the reason the script wrote to .tools/chromium.skipped.

To use them in a test folder, import them into its conftest.py (pytest finds fixtures by name there):

    from tests.browser import browser, browser_page  # noqa: F401

`browser_page` is a fresh page in a fresh browser context, with a 10 s default timeout so that a selector
that never appears fails the test quickly; an uncaught JavaScript error on the page fails the test too. The
browser is launched per test (about a second): a longer-lived one would need a session-wide event loop,
and the project's async tests each get their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Error, Page, async_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = REPO / ".tools" / "bin" / "chromium"
SKIP_REASON = REPO / ".tools" / "chromium.skipped"
# Playwright's own default is 30 s per wait; a page under test that is right answers in well under a second.
PAGE_TIMEOUT_MS = 60_000
LAUNCH_TIMEOUT_MS = 30_000


def chromium_or_skip() -> Path:
    """The chromium wrapper from `make tools`, or a skip saying why it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    why = (
        SKIP_REASON.read_text().strip()
        if SKIP_REASON.exists()
        else "run `make tools` (scripts/fetch-tools.sh) to fetch it"
    )
    pytest.skip(f"chromium is not at {CHROMIUM}: {why}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, through Playwright."""
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser_page(browser: Browser) -> AsyncIterator[Page]:
    """A blank page in its own browser context (no cookies or storage shared with other tests)."""
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[Error] = []

    def record(error: Error) -> None:
        errors.append(error)

    # Playwright tags the handler with an attribute, so a bound builtin such as errors.append cannot be one.
    page.on("pageerror", record)
    try:
        yield page
    finally:
        await context.close()
    if errors:
        pytest.fail(f"uncaught JavaScript errors on the page: {[str(error) for error in errors]}")
