"""A client streaming a large request body the way an attacker would; a server process's peak memory."""

from __future__ import annotations

import contextlib
import select
import socket
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Streamed:
    status: int | None
    """The status the server answered, None when it answered nothing."""
    sent: int
    """Body bytes the server took before it closed the connection (all of them when it never did)."""
    response: bytes


def stream_body(
    host: str,
    port: int,
    path: str,
    total: int,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = True,
) -> Streamed:
    """POST `total` bytes of body to `path`, 1 MiB at a time, until done or until the server closes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    piece = b"x" * MIB
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    response = b""
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            # On to the end whatever the server answers, as an attacker would: what counts is what it takes.
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    response += sock.recv(65536)  # kept now: a reset on a later send may discard it
                sock.sendall(frame)
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection on the rest of the body
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):  # to the close: every refusal here closes the connection
                response += data
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
    return Streamed(status, sent, response)


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")
