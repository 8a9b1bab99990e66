"""Running an ApiServer on its own event loop in a background thread (for blocking callers: tests, CLIs)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .server import ApiServer

T = TypeVar("T")


class ServerThread:
    """Context manager: `with ServerThread(ApiServer(state_dir)) as server: ...` (server is started)."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="localcluster-apiserver", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> ApiServer:
        self._thread.start()
        self.run(self.server.start())
        return self.server

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.run(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Runs a coroutine on the server's loop and waits for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Calls a plain function on the server's loop (the store and faults are not thread-safe)."""

        async def invoke() -> T:
            return function(*args)

        return self.run(invoke())

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return self.server.write_kubeconfig(path, namespace)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
