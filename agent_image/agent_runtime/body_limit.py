"""A cap on request bodies for every HTTP server of the runtime (pure ASGI middleware, no framework needed).

An ASGI app reads a body as it likes: Starlette's `request.body()` keeps all of it in memory, so without a
cap one client can make a server hold hundreds of megabytes. The cap is enforced on the bytes actually
received, not only on what Content-Length claims (a chunked body declares nothing): a declared size over the
cap is refused as soon as the app asks for the body, before a byte of it is read, and a body that grows past
the cap while the app reads is cut off there. Either is answered 413, and the app sees the client disconnect
(every framework copes with that).

A response sent before the body was read to its end (a refused token, a 413) closes the connection: otherwise
the server would go on receiving, and discarding, whatever the client still streams.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[str], object]
"""The JSON document of the 413 answer, given its message: each server keeps its own error shape."""

_CLOSE: Final = (b"connection", b"close")
_DISCONNECT: Final[Message] = {"type": "http.disconnect"}


def too_large_message(max_bytes: int) -> str:
    return f"request body larger than {max_bytes} bytes: send a smaller body"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


class BodyLimit:
    """Wraps `app`: request bodies over `max_bytes` are answered 413 with `error_body(message)`."""

    def __init__(self, app: ASGIApp, max_bytes: int, error_body: ErrorBody) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes
        self.error_body = error_body

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(self.error_body(too_large_message(self.max_bytes))).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            _CLOSE,
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        # An HTTP/1.1 request has a body only when it declares one (a length or a transfer coding).
        body_done = not declared and _header(scope, b"transfer-encoding") is None
        received = 0
        refused = False
        started = False

        async def capped_receive() -> Message:
            nonlocal received, refused, body_done
            if refused:
                return _DISCONNECT
            if declared is not None and declared > self.max_bytes:
                # Refused when the app first reads, not before it runs: an endpoint that checks a token first
                # answers a stranger 401 without a byte of the body read.
                return await refuse()
            message = await receive()
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                body_done = True
            if received > self.max_bytes:
                return await refuse()
            return message

        async def refuse() -> Message:
            nonlocal refused
            refused = True
            if not started:
                await self._refuse(send)
            return _DISCONNECT

        async def watched_send(message: Message) -> None:
            nonlocal started
            if refused and message["type"].startswith("http.response"):
                return  # the app's answer to a body it was never given in full: the 413 went instead
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except Exception:
            if not refused:
                raise
            # The app failed on the disconnect it was shown after the 413: nothing more to answer.
