"""The periodic resync: finds what the watches missed, by listing.

kopf restarts a watch whose history expired (410 Gone) with a fresh LIST, but it reports only the objects in
that list; an object deleted in the gap is never reported and stays in kopf's indexes. An Agent whose pod
vanished that way would never see its exit. Every `period` seconds this lists the operator's pods and the
Agents and AgentSupervisors, buries in the graveyard every indexed object the list no longer has, and queues
the resources that owned them, so the exit is observed through the usual reconcile. Resources this process
remembers but the list lacks are queued too: their reconcile finds them gone and forgets them.

An object can only be judged gone if it was indexed before the LIST began: one created during the listing
may be indexed and not yet listed. So the snapshot of the indexes is taken first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from agent_supervisor.controller import metrics
from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.controller.kube import AGENT_SUPERVISORS, AGENTS, PODS, ApiError, Resource
from agent_supervisor.controller.reconciler import Controller
from agent_supervisor.controller.vanished import uid_of
from agent_supervisor.translate import labels

log = logging.getLogger(__name__)

COST_SHARE: Final = 0.03
"""At most this share of the time goes to resyncs: at 10,000 agents one takes seconds (docs/benchmarks.md)."""


def next_pause(period: float, last_duration: float) -> float:
    """The configured period, stretched so that resyncs never take more than COST_SHARE of the time."""
    return max(period, last_duration / COST_SHARE)


class UnusableListError(Exception):
    pass


@dataclass(frozen=True)
class Listed:
    uids: frozenset[str]
    resources: frozenset[ObjectKey]


@dataclass(frozen=True)
class Found:
    vanished: int
    """Indexed objects the LIST no longer has."""
    forgotten: int
    """Resources remembered by this process that no longer exist."""


class Resync:
    def __init__(self, controller: Controller, namespaces: Sequence[str] | None, period: float) -> None:
        self._controller = controller
        self._scopes: Sequence[str | None] = list(namespaces) if namespaces else [None]
        self._period = period

    async def run(self) -> None:
        pause = self._period
        while True:
            await asyncio.sleep(pause)
            if not self._controller.bound:
                continue
            started = time.monotonic()
            try:
                found = await self.once()
            except (ApiError, UnusableListError) as error:
                log.warning("resync failed: %s", error)
                continue
            finally:
                took = time.monotonic() - started
                metrics.RESYNC_SECONDS.observe(took)
                pause = next_pause(self._period, took)
            if found.vanished or found.forgotten:
                log.info(
                    "resync: %d objects vanished unseen by the watches, %d resources gone",
                    found.vanished,
                    found.forgotten,
                )

    async def once(self) -> Found:
        controller = self._controller
        graveyard = controller.graveyard
        snapshot = controller.indexes.everything()
        remembered = controller.known_keys()
        listed = await self._list()
        vanished = 0
        for owner, body in snapshot:
            uid = uid_of(body)
            if uid in listed.uids or graveyard.holds(body):
                continue
            graveyard.bury(uid)
            vanished += 1
            controller.trigger(owner)
            if body.get("kind") in (AGENTS.kind, AGENT_SUPERVISORS.kind):
                metadata = body.get("metadata") or {}
                controller.trigger(
                    ObjectKey(str(body["kind"]), metadata.get("namespace") or "", metadata.get("name") or "")
                )
        forgotten = remembered - listed.resources
        for key in forgotten:
            controller.trigger(key)
        controller.prune_graveyard()
        metrics.RESYNC_VANISHED.inc(vanished)
        return Found(vanished, len(forgotten))

    async def _list(self) -> Listed:
        uids: set[str] = set()
        resources: set[ObjectKey] = set()
        kube = self._controller.kube
        for namespace in self._scopes:
            async for pod in kube.list_items(
                PODS, namespace, label_selector=labels.MANAGED_SELECTOR, metadata_only=True
            ):
                uids.add(_uid(PODS, pod))
            for resource in (AGENTS, AGENT_SUPERVISORS):
                async for item in kube.list_items(resource, namespace, metadata_only=True):
                    uids.add(_uid(resource, item))
                    resources.add(_key(resource, item))
        return Listed(frozenset(uids), frozenset(resources))


def _uid(resource: Resource, item: dict[str, object]) -> str:
    """The item's uid; a LIST without uids must stop the resync, which would otherwise bury everything."""
    uid = uid_of(item)
    if not uid:
        raise UnusableListError(f"a LIST of {resource.plural} returned an item without metadata.uid")
    return uid


def _key(resource: Resource, item: dict[str, object]) -> ObjectKey:
    metadata = item.get("metadata")
    meta = metadata if isinstance(metadata, dict) else {}
    return ObjectKey(resource.kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
