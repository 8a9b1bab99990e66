"""The browser plumbing works end to end: Debian's chromium, driven by Playwright, loads a page from a local
HTTP server, a server-sent event pushed after the page loaded changes its DOM, and a screenshot is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from playwright.async_api import Page

from tests.aiohttp_serving import serving

PAGE = """<!doctype html>
<html><head><title>push test</title></head>
<body>
<p id="status" data-state="connecting">connecting</p>
<ul id="events"></ul>
<script>
  const status = document.getElementById("status");
  const source = new EventSource("/events");
  source.onopen = () => { status.dataset.state = "open"; status.textContent = "connected"; };
  source.onmessage = (message) => {
    const item = document.createElement("li");
    item.textContent = message.data;
    document.getElementById("events").append(item);
  };
</script>
</body></html>
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@asynccontextmanager
async def push_server(pushes: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    """Serves PAGE at / and sends each string put on `pushes` as a server-sent event on /events."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        # A comment line sends the headers at once, so the page's EventSource opens before any push.
        await response.write(b": open\n\n")
        while (data := await pushes.get()) is not None:
            await response.write(f"data: {data}\n\n".encode())
        return response

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    async with serving(app) as port:
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            # Ends the open event stream, so that the server's shutdown does not wait for it.
            pushes.put_nowait(None)


async def test_a_server_push_changes_the_page_and_a_screenshot_is_written(
    browser_page: Page, tmp_path: Path
) -> None:
    pushes: asyncio.Queue[str | None] = asyncio.Queue()
    async with push_server(pushes) as url:
        await browser_page.goto(url)
        await browser_page.wait_for_selector("#status[data-state=open]")
        assert await browser_page.locator("#events li").count() == 0

        await pushes.put("agent-7 restarted")
        item = await browser_page.wait_for_selector("#events li")
        assert item is not None
        assert await item.text_content() == "agent-7 restarted"

        screenshot = tmp_path / "page.png"
        await browser_page.screenshot(path=screenshot)
    png = screenshot.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > len(PNG_SIGNATURE)
