from tests.browser import browser, browser_page  # noqa: F401
