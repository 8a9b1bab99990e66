"""Passing one HTTP request on to a backend and streaming its answer back, for both proxies (proxy.py and
service_dns_proxy.py); each drops the request headers that are not the backend's business."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from yarl import URL

from .service_backends import BackendError

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus Host, which aiohttp sets from
# the backend's URL.
HOP_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
    )
)
# The answer is re-framed (chunked) on the way back, so the backend's length no longer describes it.
# Content-Encoding passes through: sessions used here must not decompress (auto_decompress=False).
_RESPONSE_DROPPED = HOP_HEADERS | {"content-length"}
_CHUNK = 64 * 1024


class BackendUnreachableError(BackendError):
    pass


async def forward(
    session: aiohttp.ClientSession,
    request: web.BaseRequest,
    url: URL,
    dropped_headers: frozenset[str] = HOP_HEADERS,
) -> web.StreamResponse:
    """Send ``request`` to ``url`` and stream the answer back; both bodies stream, neither is buffered.

    Raises BackendUnreachableError when no answer starts; a failure mid-answer drops the client connection.
    """
    headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped_headers}
    body = request.content.iter_chunked(_CHUNK) if request.body_exists else None
    try:
        upstream = await session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        )
    except aiohttp.ClientError as exc:
        raise BackendUnreachableError(f"cannot reach {url.host}:{url.port}: {exc}") from exc
    async with upstream:
        response = web.StreamResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in _RESPONSE_DROPPED},
        )
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except aiohttp.ClientError as exc:
            # The answer has begun, so the client can only learn of the failure by the connection dropping.
            raise ConnectionResetError(f"{url.host}:{url.port} failed while answering: {exc}") from exc
        await response.write_eof()
        return response
