"""A small work-queue runner for the server's built-in controllers (GC, namespaces, CRD cleanup).

Controllers hear store changes synchronously but act later, from their own task, as kube-controller-manager
does: clients observe the cascade happening asynchronously, through watch events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from .errors import ApiError
from .watch import ChangeEvent

log = logging.getLogger(__name__)

RETRY_DELAY = 0.05


class Controller:
    """Subclasses implement `observe` (pick work items from a change) and `reconcile` (do one item)."""

    name = "controller"

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()

    def observe(self, event: ChangeEvent) -> list[Hashable]:
        raise NotImplementedError

    def reconcile(self, item: Hashable) -> bool:
        """Acts on one item; returns True when the item needs another pass later."""
        raise NotImplementedError

    def on_change(self, event: ChangeEvent) -> None:
        for item in self.observe(event):
            self.enqueue(item)

    def enqueue(self, item: Hashable) -> None:
        if item not in self._queued:
            self._queued.add(item)
            self._queue.put_nowait(item)

    def idle(self) -> bool:
        return not self._queued

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            self._queued.discard(item)
            try:
                again = self.reconcile(item)
            except ApiError as exc:
                # Conflicts with concurrent client writes are expected: try again shortly.
                again = exc.code == 409
                log.log(
                    logging.DEBUG if again else logging.WARNING, "%s on %r: %s", self.name, item, exc.message
                )
            except Exception:
                log.exception("%s failed on %r", self.name, item)
                again = False
            if again:
                asyncio.get_running_loop().call_later(RETRY_DELAY, self.enqueue, item)
