"""Fan-out of state changes to every watcher of the control API.

Publishing never waits for a watcher. Each state is a whole snapshot, so a watcher that falls far behind
(a stalled connection) can skip to the newest one without losing anything it needs: its backlog is cut to
the latest state instead of growing without bound.
"""

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Generic, TypeVar

T = TypeVar("T")
BACKLOG: Final = 64


class FeedClosedError(Exception):
    """The feed has ended (the pod supervisor is exiting)."""


class Subscription(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._wake = asyncio.Event()
        self.closed = False

    def _put(self, item: T) -> None:
        if len(self._items) >= BACKLOG:
            self._items.clear()
        self._items.append(item)
        self._wake.set()

    def _close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next(self, within_seconds: float) -> T | None:
        """The next published item; None when `within_seconds` pass first. FeedClosedError: the feed ended."""
        if not self._items and not self.closed:
            try:
                await asyncio.wait_for(self._wake.wait(), within_seconds)
            except TimeoutError:
                return None
        self._wake.clear()
        if self._items:
            return self._items.popleft()
        raise FeedClosedError


class Feed(Generic[T]):
    def __init__(self, current: T) -> None:
        self.current = current
        self._subscriptions: set[Subscription[T]] = set()
        self._closed = False

    def publish(self, item: T) -> None:
        self.current = item
        for subscription in self._subscriptions:
            subscription._put(item)

    def close(self) -> None:
        self._closed = True
        for subscription in self._subscriptions:
            subscription._close()

    @property
    def watchers(self) -> int:
        return len(self._subscriptions)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription[T]]:
        subscription: Subscription[T] = Subscription()
        if self._closed:
            subscription._close()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
