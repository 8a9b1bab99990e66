"""SPDY/3 framing, as far as port-forwarding needs it (kubectl tunnels SPDY/3.1 through a websocket).

Frames (draft-mbelshe-httpbis-spdy-00): a control frame is `1 | version(15) | type(16) | flags(8) |
length(24) | data`, a data frame `0 | stream id(31) | flags(8) | length(24) | data`. Header blocks are
`count(32)` then `length(32) name length(32) value` pairs, zlib-compressed with the protocol's dictionary in
one stream per direction (each block ends with a sync flush). No flow control: kubectl's SPDY library
(spdystream) sends no WINDOW_UPDATE it would wait for, and those it sends are ignored here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    0,
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
FLAG_FIN = 0x01
RST_CANCEL = 5

# The header compression dictionary of SPDY/3 (spec section 2.6.10.1): these words, each preceded by its
# length as a 32-bit big-endian number, then the bytes of _TAIL as they are.
_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Una"
    "uthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service"
    " UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, "
    "Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,applicat"
    "ion/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf"
    "-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(len(w).to_bytes(4, "big") + w.encode() for w in _WORDS) + _TAIL.encode()


class SpdyError(ValueError):
    pass


@dataclass(frozen=True)
class Frame:
    kind: int  # DATA or a control frame type
    stream_id: int
    flags: int
    payload: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class FrameReader:
    """Cuts a byte stream into frames; decompresses header blocks with the session's zlib stream."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, body = bytes(self._buffer[:8]), bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            frames.append(self._frame(head, body))
        return frames

    def _frame(self, head: bytes, body: bytes) -> Frame:
        first, flags = int.from_bytes(head[:4], "big"), head[4]
        if not first & 0x80000000:
            return Frame(DATA, first & 0x7FFFFFFF, flags, body)
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        if kind == SYN_STREAM:
            return Frame(kind, _stream_id(body), flags, headers=self._headers(body[10:]))
        if kind in (SYN_REPLY, HEADERS):
            return Frame(kind, _stream_id(body), flags, headers=self._headers(body[4:]))
        if kind in (RST_STREAM, WINDOW_UPDATE):
            return Frame(kind, _stream_id(body), flags, body[4:])
        return Frame(kind, 0, flags, body)

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as error:
            raise SpdyError(f"bad header block: {error}") from error
        count, pos, headers = int.from_bytes(raw[:4], "big"), 4, {}
        for _ in range(count):
            size = int.from_bytes(raw[pos : pos + 4], "big")
            name = raw[pos + 4 : pos + 4 + size].decode()
            pos += 4 + size
            size = int.from_bytes(raw[pos : pos + 4], "big")
            headers[name.lower()] = raw[pos + 4 : pos + 4 + size].decode()
            pos += 4 + size
        return headers


def _stream_id(body: bytes) -> int:
    return int.from_bytes(body[:4], "big") & 0x7FFFFFFF


class FrameWriter:
    """Encodes the frames a server sends; header blocks share one zlib stream, so call it in send order."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    @staticmethod
    def _control(kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHB", 0x8000 | VERSION, kind, flags) + len(body).to_bytes(3, "big") + body

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = len(headers).to_bytes(4, "big")
        for name, value in headers.items():
            for text in (name.lower(), value):
                raw += len(text.encode()).to_bytes(4, "big") + text.encode()
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None, fin: bool = False) -> bytes:
        body = stream_id.to_bytes(4, "big") + self._block(headers or {})
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, body)

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
        head = stream_id.to_bytes(4, "big") + bytes([FLAG_FIN if fin else 0]) + len(data).to_bytes(3, "big")
        return head + data

    def rst_stream(self, stream_id: int, status: int = RST_CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, stream_id.to_bytes(4, "big") + status.to_bytes(4, "big"))

    def ping(self, payload: bytes) -> bytes:
        return self._control(PING, 0, payload)

    def goaway(self, last_stream_id: int) -> bytes:
        return self._control(GOAWAY, 0, last_stream_id.to_bytes(4, "big") + (0).to_bytes(4, "big"))
