"""A small aiohttp application served on a free loopback port, for tests that stand in for a server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve `app` on `host`; yields the port. An open streaming response must be ended by the test before
    this exits, or the shutdown waits for it."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
