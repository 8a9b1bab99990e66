"""The reconcile queue: keys, not events, so that any number of triggers leads to one reconcile per resource.

Same contract as client-go's workqueue: a key is queued at most once; a key being reconciled is never handed
to a second worker (the per-resource lock), and a key added meanwhile is queued again when the first reconcile
is done; delayed adds keep only the earliest wake-up; failures are retried with a per-key exponential backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

RETRY_INITIAL_SECONDS = 0.05
RETRY_MAX_SECONDS = 30.0


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: dict[K, float] = {}
        """Keys waiting for a reconcile, with the monotonic time of their first trigger since."""
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty[key] = time.monotonic()
        if key not in self._processing:
            self._ready.put_nowait(key)

    def pending(self, key: K) -> bool:
        """Whether a reconcile of `key` is queued (including one that waits for the running one to end)."""
        return key in self._dirty

    def add_after(self, key: K, delay_seconds: float) -> None:
        """Queue `key` after the delay, unless an earlier wake-up for it is already set."""
        if delay_seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay_seconds
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled():
            if timer.when() <= when:
                return
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> tuple[K, float]:
        """The next key and the monotonic time it was first triggered; call `done` after reconciling it."""
        key = await self._ready.get()
        triggered: float = self._dirty.pop(key)
        self._processing.add(key)
        return key, triggered

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._ready.put_nowait(key)

    def retry(self, key: K) -> float:
        """Queue a failed key again after its backoff; returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(RETRY_INITIAL_SECONDS * float(2**failures), RETRY_MAX_SECONDS)
        self.add_after(key, delay)
        return delay

    def succeeded(self, key: K) -> None:
        self._failures.pop(key, None)

    def forget(self, key: K) -> None:
        """The resource is gone: drop its wake-up and backoff."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._failures.pop(key, None)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def __len__(self) -> int:
        return self._ready.qsize()
