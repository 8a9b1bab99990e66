"""The channel.k8s.io websocket protocol of exec and attach (`v5.channel.k8s.io`, and `v4` before it).

Each binary message is one channel's data: its first byte names the channel (0 stdin, 1 stdout, 2 stderr,
3 error, 4 resize), the rest is the payload. The server ends a session with a `metav1.Status` on the error
channel (`Success`, or `Failure` with reason `NonZeroExitCode` and the exit code as a cause: kubectl exits
with it), then closes. In v5 a client closes one of its streams with a message on channel 255 whose payload
is the channel it closes (kubectl sends `[255, 0]` at the end of its stdin). Resize payloads are JSON,
`{"Width": w, "Height": h}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    if code == 0:
        return success()
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure(message: str, code: int = 500, reason: str = "InternalError") -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


class ChannelSocket:
    """A prepared websocket speaking the channel protocol."""

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket

    @classmethod
    async def accept(cls, request: web.Request) -> ChannelSocket:
        socket = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, max_msg_size=0)
        await socket.prepare(request)
        return cls(socket)

    async def send(self, channel: int, data: bytes) -> None:
        if not self.socket.closed:
            await self.socket.send_bytes(bytes([channel]) + data)

    async def finish(self, status: dict[str, Any]) -> None:
        await self.send(ERROR, json.dumps(status).encode())
        await self.socket.close()

    async def receive(
        self,
        on_stdin: Callable[[bytes], Awaitable[None]],
        on_stdin_closed: Callable[[], Awaitable[None]],
        on_resize: Callable[[int, int], None],
    ) -> None:
        """Reads client messages until the client goes away (its stdin, its resizes, its stream closes)."""
        async for message in self.socket:
            if message.type != WSMsgType.BINARY or not message.data:
                continue
            channel, payload = message.data[0], message.data[1:]
            if channel == STDIN:
                await on_stdin(payload)
            elif channel == RESIZE:
                try:
                    size = json.loads(payload)
                    on_resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
                except (ValueError, TypeError, AttributeError):
                    continue
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                await on_stdin_closed()
