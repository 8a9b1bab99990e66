"""Small asyncio timing helpers: a wake-up signal and the kubelet's restart back-off."""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    """Wakes every current waiter when something changed (unlike an Event, it needs no clearing)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, time_limit: float | None) -> bool:
        """Wait for a notification; returns False when ``time_limit`` passed first."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, time_limit)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)
        return True


async def sleep_unless(stopped: asyncio.Event, seconds: float) -> bool:
    """Sleep, returning early (True) if ``stopped`` gets set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopped.wait(), seconds)
    return stopped.is_set()


class Backoff:
    """Restart delays: the first restart is immediate, then ``initial`` doubling up to ``maximum``.

    A run that lasted at least twice the maximum resets the sequence, as the kubelet forgets old crashes.
    """

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = 0.0

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= 2 * self._maximum:
            self._next = 0.0
        delay = self._next
        self._next = min(max(self._next * 2, self._initial), self._maximum)
        return delay
