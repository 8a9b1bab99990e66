"""Container log files: how the kubelet writes a container's output and how the API server reads it back.

Like a CRI runtime's log files, each record is one line, `<RFC 3339 time with nanoseconds> <tag> <bytes>`,
the tag being `F` for a full line (its newline dropped) and `P` for the part of a line that was written
without its newline yet. One file holds one run of a container (`<container>.log`); when the container
restarts, the kubelet moves it to `<container>.previous.log` (container names have no dots, so the two
never clash), which is what `kubectl logs --previous` shows. A line that is not a record (a file written by
hand or by an older version) is read as a full line without a time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

_RECORD = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ([FP]) ", re.ASCII)


def current_path(pod_dir: Path, container: str) -> Path:
    return pod_dir / f"{container}.log"


def previous_path(pod_dir: Path, container: str) -> Path:
    return pod_dir / f"{container}.previous.log"


def rotate(log_path: Path) -> None:
    """Before a container's next run: the last run's file becomes the previous one (if it wrote anything)."""
    previous = log_path.with_name(log_path.name.removesuffix(".log") + ".previous.log")
    if log_path.exists():
        log_path.replace(previous)


def now_rfc3339_nano() -> str:
    nanos = time.time_ns()
    moment = datetime.fromtimestamp(nanos // 1_000_000_000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos % 1_000_000_000:09d}Z"


class LogWriter:
    """Writes a process's output as records; each call's trailing bytes without a newline become a `P` one."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        stamp = now_rfc3339_nano().encode()
        lines = chunk.split(b"\n")
        records = [stamp + b" F " + line + b"\n" for line in lines[:-1]]
        if lines[-1]:
            records.append(stamp + b" P " + lines[-1] + b"\n")
        self._handle.write(b"".join(records))
        self._handle.flush()


@dataclass(frozen=True)
class Line:
    """One line of output as a reader sees it: its time (from its first part) and its bytes."""

    time: str | None
    text: bytes
    complete: bool

    def render(self, timestamps: bool) -> bytes:
        prefix = f"{self.time} ".encode() if timestamps and self.time else b""
        return prefix + self.text + (b"\n" if self.complete else b"")


def lines(data: bytes) -> Iterator[Line]:
    """The lines of a log file's records (complete records only: up to its last newline)."""
    pending: tuple[str | None, bytes] | None = None
    for raw in data.split(b"\n")[:-1]:
        match = _RECORD.match(raw)
        stamp, tag, text = (
            (match.group(1).decode(), match.group(2), raw[match.end() :]) if match else (None, b"F", raw)
        )
        if pending is not None:
            stamp, text = pending[0], pending[1] + text
            pending = None
        if tag == b"P":
            pending = (stamp, text)
        else:
            yield Line(stamp, text, True)
    if pending is not None:
        yield Line(pending[0], pending[1], False)


def render(selected: Iterable[Line], timestamps: bool) -> bytes:
    return b"".join(line.render(timestamps) for line in selected)


def plain_text(data: bytes) -> bytes:
    """A log file's output as the process wrote it."""
    return render(lines(data), timestamps=False)


class Follower:
    """Renders records as they are appended to a file (`kubectl logs -f`), one complete record at a time."""

    def __init__(self, timestamps: bool, at_line_start: bool = True) -> None:
        self._timestamps = timestamps
        self._at_line_start = at_line_start
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        complete, newline, self._buffer = self._buffer.rpartition(b"\n")
        if not newline:
            self._buffer = complete + self._buffer
            return b""
        out = []
        for raw in complete.split(b"\n"):
            match = _RECORD.match(raw)
            stamp, tag, text = (
                (match.group(1).decode(), match.group(2), raw[match.end() :]) if match else (None, b"F", raw)
            )
            if self._at_line_start and self._timestamps and stamp:
                out.append(f"{stamp} ".encode())
            out.append(text + (b"\n" if tag == b"F" else b""))
            self._at_line_start = tag == b"F"
        return b"".join(out)
