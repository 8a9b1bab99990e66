"""An asyncio event loop on a background thread, for blocking callers (tests, CLIs) of the local cluster."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """Owns a loop running forever on a daemon thread; `run`/`call` block until the work is done on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_forever, name=name, daemon=True)

    def _run_forever(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start_loop(self) -> None:
        self._thread.start()

    def stop_loop(self, last: Callable[[], Awaitable[Any]], timeout: float) -> None:
        """Runs `last()` (the async stop) on the loop, then stops the loop and joins the thread."""
        if not self._thread.is_alive():
            return
        try:
            self.run(_as_coroutine(last), timeout=timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Runs a coroutine on the loop and waits for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Calls a plain function on the loop: the store, the kubelet and the faults are not thread-safe."""

        async def invoke() -> T:
            return function(*args)

        return self.run(invoke())


async def _as_coroutine(make: Callable[[], Awaitable[Any]]) -> None:
    await make()
