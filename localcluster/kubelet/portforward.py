"""`kubectl port-forward`: SPDY/3.1 streams tunnelled through a websocket (`SPDY/3.1+portforward.k8s.io`).

For each local connection kubectl opens two SPDY streams with headers `streamtype` (`error`, then `data`),
`port` and `requestid`. The server replies to each, connects the data stream to the port on the pod's
address (pods listen on their own loopback address, `$POD_IP`), and copies bytes both ways. If the port
cannot be reached, the reason is written to the error stream (kubectl prints it); the error stream is
closed when the connection ends, which is what kubectl waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from localcluster.kubelet import spdy

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
READ_SIZE = 32 * 1024


@dataclass
class _Pair:
    port: int
    error_stream: int = 0
    data_stream: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: list[bytes] = field(default_factory=list)  # client data that came before the connection


class PortForwardSession:
    def __init__(self, socket: web.WebSocketResponse, pod_ip: str) -> None:
        self._socket = socket
        self._pod_ip = pod_ip
        self._reader = spdy.FrameReader()
        self._writer = spdy.FrameWriter()
        self._send_lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}

    async def _send(self, make: bytes | None = None, *, reply_to: int | None = None) -> None:
        async with self._send_lock:  # header compression is one stream: encode in send order
            frame = self._writer.syn_reply(reply_to) if reply_to is not None else make
            if frame is not None and not self._socket.closed:
                with contextlib.suppress(ConnectionError):
                    await self._socket.send_bytes(frame)

    async def run(self) -> None:
        try:
            async for message in self._socket:
                if message.type != WSMsgType.BINARY:
                    continue
                for frame in self._reader.feed(message.data):
                    await self._handle(frame)
        except spdy.SpdyError:
            await self._socket.close()
        finally:
            for pair in self._pairs.values():
                self._close(pair)

    async def _handle(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.SYN_STREAM:
            await self._open(frame)
        elif frame.kind == spdy.DATA:
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_stream:
                self._to_pod(pair, frame.payload, frame.fin)
        elif frame.kind == spdy.RST_STREAM:
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None:
                self._close(pair)
        elif frame.kind == spdy.PING:
            await self._send(self._writer.ping(frame.payload))
        elif frame.kind == spdy.GOAWAY:
            await self._socket.close()

    async def _open(self, frame: spdy.Frame) -> None:
        headers = frame.headers
        request_id, kind = headers.get("requestid", ""), headers.get("streamtype", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            await self._send(self._writer.rst_stream(frame.stream_id, 1))
            return
        await self._send(reply_to=frame.stream_id)
        pair = self._pairs.setdefault(request_id, _Pair(port))
        self._by_stream[frame.stream_id] = pair
        if kind == "error":
            pair.error_stream = frame.stream_id
        elif kind == "data":
            pair.data_stream = frame.stream_id
            pair.task = asyncio.create_task(self._forward(pair))

    def _to_pod(self, pair: _Pair, data: bytes, fin: bool) -> None:
        if pair.writer is None:
            pair.pending.append(data)
            if fin:
                pair.pending.append(b"")
            return
        if data:
            pair.writer.write(data)
        if fin and pair.writer.can_write_eof():
            with contextlib.suppress(OSError):
                pair.writer.write_eof()

    async def _forward(self, pair: _Pair) -> None:
        try:
            reader, pair.writer = await asyncio.open_connection(self._pod_ip, pair.port)
        except OSError as error:
            reason = os.strerror(error.errno).lower() if error.errno else str(error)
            message = (
                f"error forwarding port {pair.port} to pod, the process kubelet's pod address "
                f"{self._pod_ip}: dial tcp4 {self._pod_ip}:{pair.port}: connect: {reason}"
            )
            await self._send(self._writer.data(pair.error_stream, message.encode(), fin=True))
            await self._send(self._writer.data(pair.data_stream, b"", fin=True))
            return
        for chunk in pair.pending:
            self._to_pod(pair, chunk, fin=not chunk)
        pair.pending.clear()
        try:
            while chunk := await reader.read(READ_SIZE):
                await self._send(self._writer.data(pair.data_stream, chunk))
        except OSError:
            pass
        await self._send(self._writer.data(pair.data_stream, b"", fin=True))
        await self._send(self._writer.data(pair.error_stream, b"", fin=True))

    @staticmethod
    def _close(pair: _Pair) -> None:
        if pair.writer is not None:
            pair.writer.close()
        if pair.task is not None and not pair.task.done():
            pair.task.cancel()


async def serve(request: web.Request, pod_ip: str) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(protocols=(PROTOCOL,), autoping=True, max_msg_size=0)
    await socket.prepare(request)
    await PortForwardSession(socket, pod_ip).run()
    return socket
