"""The status code of one plain HTTP GET to the incarnation's own API (/readyz, /healthz).

A few lines over asyncio streams rather than an HTTP client library: readiness is polled every 10 ms while an
incarnation starts, and an httpx client per probe (or its import, about a tenth of a second) would cost the
pod supervisor more than the probe itself. The runtime's server answers `Connection: close` requests with a
status line first, which is all that is read.
"""

import asyncio
import contextlib


async def http_status(host: str, port: int, path: str, within_seconds: float) -> int | None:
    """The response's status code, or None when nothing valid answered within `within_seconds`."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode()
    try:
        async with asyncio.timeout(within_seconds):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(request)
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return None
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])
