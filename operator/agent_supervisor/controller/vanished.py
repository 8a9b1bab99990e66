"""Objects known to be gone while kopf's indexes still hold them.

kopf removes an object from its indexes on the object's DELETED watch event. Two cases leave a gone object
there, for a moment or for good:

- the operator deleted a pod itself with no grace period: the API server removes it at once, and until the
  DELETED event arrives a reconcile would still see it (and delete it a second time);
- the object was deleted while kopf's watch was down and the watch history expired meanwhile (410 Gone):
  kopf lists again but never reports the objects missing from the new list, so they would stay forever
  (found by the periodic resync, resync.py).

Readers of the indexes skip the uids buried here; a uid is forgotten once no index holds it any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final


def uid_of(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


PRUNE_EVERY: Final = 1000
"""Burials between two prunings against the indexes, so that the graveyard stays small with no resync."""


class Graveyard:
    def __init__(self) -> None:
        self._uids: set[str] = set()
        self._size_after_prune = 0

    def bury(self, uid: str) -> None:
        if uid:
            self._uids.add(uid)

    def holds(self, body: Mapping[str, Any]) -> bool:
        return uid_of(body) in self._uids

    def living(self, bodies: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [body for body in bodies if uid_of(body) not in self._uids]

    def keep_only(self, indexed: Iterable[str]) -> None:
        """Forget the uids no index holds any more: the index has caught up with them."""
        self._uids &= set(indexed)
        self._size_after_prune = len(self._uids)

    @property
    def wants_pruning(self) -> bool:
        return len(self._uids) >= self._size_after_prune + PRUNE_EVERY

    def __len__(self) -> int:
        return len(self._uids)
