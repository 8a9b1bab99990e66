"""In-process fan-out of agent events to `/v1/events` subscribers (server-sent events)."""

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

_QUEUE_SIZE: Final = 256
CLOSING: Final = "closing"


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.type}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n"


class EventBus:
    """Publishing never blocks: a subscriber that falls behind loses events instead of stalling the loop."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._ids = itertools.count(1)
        self.dropped = 0

    def publish(self, type_: str, **data: Any) -> None:
        event = Event(next(self._ids), type_, {"time": round(time.time(), 3), **data})
        for queue in self._subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1

    def close(self, **data: Any) -> None:
        """End every stream with a last `closing` event (making room for it in a full queue)."""
        event = Event(next(self._ids), CLOSING, {"time": round(time.time(), 3), **data})
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)

    @contextmanager
    def subscription(self) -> Iterator["asyncio.Queue[Event]"]:
        queue: asyncio.Queue[Event] = asyncio.Queue(_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def stream(self, heartbeat_seconds: float = 15.0) -> AsyncIterator[str]:
        """SSE text: events as they happen, and a comment heartbeat so proxies keep the stream open."""
        with self.subscription() as queue:
            yield ": subscribed\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), heartbeat_seconds)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                yield event.sse()
                if event.type == CLOSING:
                    return
