"""Watch fan-out: a history of change events (for replay from a resourceVersion) and live subscribers."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import expired

ResourceKey = tuple[str, str]  # (group, plural)
Matcher = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class ChangeEvent:
    """One stored change: `obj` is the object after it (for DELETED: the last state, with the new RV)."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: ResourceKey
    obj: dict[str, Any]
    old: dict[str, Any] | None = None

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))


# What a subscriber's queue carries: an event to send, or None meaning "end the stream now".
QueueItem = tuple[str, dict[str, Any]] | None


@dataclass(eq=False)
class Subscriber:
    """A live watch: receives the events of one resource type that pass its namespace and selector filter."""

    key: ResourceKey
    namespace: str | None
    matches: Matcher
    queue: asyncio.Queue[QueueItem] = field(default_factory=asyncio.Queue)

    def offer(self, event: ChangeEvent) -> None:
        translated = translate(event, self.namespace, self.matches)
        if translated is not None:
            self.queue.put_nowait(translated)

    def close(self) -> None:
        self.queue.put_nowait(None)


def translate(
    event: ChangeEvent, namespace: str | None, matches: Matcher
) -> tuple[str, dict[str, Any]] | None:
    """The event a filtered watcher sees: objects moving into its selector are ADDED, moving out DELETED."""
    if namespace and event.namespace != namespace:
        return None
    now = matches(event.obj)
    if event.type != "MODIFIED" or event.old is None:
        return (event.type, event.obj) if now else None
    before = matches(event.old)
    if now and before:
        return ("MODIFIED", event.obj)
    if now:
        return ("ADDED", event.obj)
    if before:
        return ("DELETED", event.obj)
    return None


class WatchHub:
    """Keeps the last `capacity` events in resourceVersion order and pushes new ones to subscribers."""

    def __init__(self, capacity: int = 20_000, start_rv: int = 0) -> None:
        self.capacity = capacity
        self._events: list[ChangeEvent] = []
        self._rvs: list[int] = []
        # Every change with rv > compacted_rv is still in the history.
        self.compacted_rv = start_rv
        self._subscribers: dict[ResourceKey, set[Subscriber]] = {}

    def publish(self, event: ChangeEvent) -> None:
        self._events.append(event)
        self._rvs.append(event.rv)
        if len(self._events) > 2 * self.capacity:
            dropped = len(self._events) - self.capacity
            self.compacted_rv = self._rvs[dropped - 1]
            del self._events[:dropped]
            del self._rvs[:dropped]
        for subscriber in tuple(self._subscribers.get(event.key, ())):
            subscriber.offer(event)

    def since(self, rv: int, key: ResourceKey) -> list[ChangeEvent]:
        """Events of `key` after `rv`; raises 410 Expired when some of them are no longer kept."""
        if rv < self.compacted_rv:
            raise expired(f"too old resource version: {rv} ({self.compacted_rv})")
        start = bisect.bisect_right(self._rvs, rv)
        return [e for e in self._events[start:] if e.key == key]

    def subscribe(self, key: ResourceKey, namespace: str | None, matches: Matcher) -> Subscriber:
        subscriber = Subscriber(key, namespace, matches)
        self._subscribers.setdefault(key, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.get(subscriber.key, set()).discard(subscriber)

    def compact(self) -> int:
        """Forget the whole history, as an etcd compaction does: a watch or list from any resourceVersion
        older than now gets 410 Expired. Returns the compacted resourceVersion."""
        if self._rvs:
            self.compacted_rv = max(self.compacted_rv, self._rvs[-1])
        self._events.clear()
        self._rvs.clear()
        return self.compacted_rv

    def close_all(self) -> int:
        """End every live watch stream (clients see the stream close and reconnect). Returns how many."""
        count = 0
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.close()
                count += 1
        return count
