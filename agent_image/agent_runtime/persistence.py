"""Group-committed checkpointing: every caller waits until a save covering its change is durable.

State changes bump a version; `persist()` returns once a save of at least that version finished. Concurrent
callers (a step commit and several accepted messages) share one write instead of queueing one each.
"""

import asyncio
import time
from collections.abc import Callable

from agent_runtime.checkpoint import CheckpointError, CheckpointStore, decode_state, encode_state
from agent_runtime.state import AgentState


class Persister:
    def __init__(
        self,
        store: CheckpointStore,
        max_bytes: int,
        snapshot: Callable[[], AgentState],
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._store = store
        self._max_bytes = max_bytes
        self._snapshot = snapshot
        self._observe = observe
        self._lock = asyncio.Lock()
        self._version = 0
        self._saved = 0

    def changed(self) -> None:
        self._version += 1

    async def persist(self) -> None:
        target = self._version
        async with self._lock:
            if self._saved >= target:
                return
            version = self._version
            # Encoding is synchronous, so the snapshot is consistent even while the loop keeps running.
            blob = encode_state(self._snapshot(), self._max_bytes)
            started = time.perf_counter()
            await self._store.save(blob)
            self._observe(time.perf_counter() - started)
            self._saved = version

    async def load(self) -> AgentState | None:
        blob = await self._store.load()
        if blob is None:
            return None
        try:
            return decode_state(blob)
        except (OSError, EOFError, ValueError) as err:  # bad gzip, bad JSON, or a state failing validation
            raise CheckpointError(
                f"stored checkpoint unreadable ({type(err).__name__}); set resume: false to start clean"
            ) from err

    async def clear(self) -> None:
        await self._store.clear()
