"""Finished pods of replaced incarnations: kept for `kubectl logs`, then deleted in batches.

A pod runs with restartPolicy Never, so each restart creates a new pod and the crashed one stays behind,
terminated. Deleting it at once would lose its logs (`kubectl logs --previous` has nothing to show across
pods) and cost one API write per restart. Instead the executor hands such a pod here; it stays for
`--finished-pod-ttl` seconds, and then one DELETE of the collection removes the due pods of a namespace,
named in a label selector by their `otp.agents.dev/pod` label. Like the Job controller, which leaves failed
pods in place too.

Only pods whose replacement has been decided reach this module: the exit of their incarnation is already
recorded in status, so losing them changes nothing. Before each batch, every pod is checked against the
index again (same uid, still finished), and the request itself only matches pods in a terminal phase.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agent_supervisor.controller import metrics
from agent_supervisor.controller.kube import PODS, ApiError, KubeClient
from agent_supervisor.controller.vanished import uid_of
from agent_supervisor.translate import labels

log = logging.getLogger(__name__)

FINISHED_PHASES: Final = frozenset({"Succeeded", "Failed"})
ONLY_FINISHED: Final = "status.phase!=Pending,status.phase!=Running,status.phase!=Unknown"
"""The field selector of every batch: whatever the label selector matches, a live pod is never deleted."""
PODS_PER_BATCH: Final = 100
"""Pods named in one label selector: at most 63 characters each, so the URL stays under about 7 KB."""

SWEPT_MEMORY_SECONDS: Final = 300.0
"""How long a swept uid is remembered for its DELETED event (which a watch gap could lose)."""

Owner = tuple[str, str, str]
"""(kind, namespace, name) of the supervising resource whose index entry holds the pod."""
PodsOf = Callable[[Owner], Sequence[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class KeptPod:
    owner: Owner
    namespace: str
    name: str
    uid: str
    label: str
    """Its `otp.agents.dev/pod` label: what the batch's selector names it by."""
    since: float
    """Monotonic time it was first handed over: the TTL counts from the decision that replaced it."""


@dataclass(frozen=True, slots=True)
class Batch:
    namespace: str
    label_selector: str
    pods: tuple[KeptPod, ...]


def is_finished(pod: Mapping[str, Any]) -> bool:
    """Terminated for good and not already being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (pod.get("status") or {}).get("phase") in FINISHED_PHASES


def batches(pods: Iterable[KeptPod], per_batch: int = PODS_PER_BATCH) -> list[Batch]:
    """One label selector per namespace and `per_batch` pods: `managed-by,otp.agents.dev/pod in (a-1,b-7)`."""
    by_namespace: dict[str, dict[str, KeptPod]] = {}
    for pod in pods:
        by_namespace.setdefault(pod.namespace, {})[pod.label] = pod
    result = []
    for namespace, by_label in sorted(by_namespace.items()):
        names = sorted(by_label)
        for start in range(0, len(names), per_batch):
            chunk = names[start : start + per_batch]
            selector = f"{labels.MANAGED_SELECTOR},{labels.POD} in ({','.join(chunk)})"
            result.append(Batch(namespace, selector, tuple(by_label[name] for name in chunk)))
    return result


class FinishedPods:
    def __init__(
        self, kube: KubeClient, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kube = kube
        self._ttl = ttl_seconds
        self._clock = clock
        self._kept: dict[str, KeptPod] = {}
        """By pod uid."""
        self._swept: dict[str, float] = {}
        """Uids of pods this process deleted, until their DELETED event: when they were deleted."""

    @property
    def enabled(self) -> bool:
        """False with a TTL of 0: replaced pods are deleted at once, one request each."""
        return self._ttl > 0

    @property
    def sweep_interval(self) -> float:
        """Pods are deleted between one and one and a half TTLs after their replacement was decided."""
        return min(max(self._ttl / 2, 0.5), 30.0)

    def keep(self, owner: Owner, pod: Mapping[str, Any]) -> bool:
        """Take over a finished pod of a replaced incarnation; False when the caller must delete it: the TTL
        is 0, the pod still runs, or it lacks the pod label (created by an operator version before it)."""
        metadata = pod.get("metadata") or {}
        label = (metadata.get("labels") or {}).get(labels.POD)
        uid = uid_of(pod)
        if not self.enabled or not is_finished(pod) or not label or not uid:
            return False
        if uid not in self._kept:
            namespace = str(metadata.get("namespace") or owner[1])
            self._kept[uid] = KeptPod(owner, namespace, str(metadata.get("name")), uid, label, self._clock())
        return True

    def __len__(self) -> int:
        return len(self._kept)

    def swept(self, uid: str) -> bool:
        """Whether this process deleted the pod (asked once, by its DELETED event).

        Its owner needs no reconcile then: the pod was an older incarnation whose exit is recorded, so a
        batch of hundreds of deletions does not queue hundreds of reconciles that would change nothing and
        delay the ones that matter.
        """
        return self._swept.pop(uid, None) is not None

    def due(self, pods_of: PodsOf) -> list[KeptPod]:
        """The kept pods whose TTL has passed and that the index still shows finished with the same uid.

        Entries whose pod is gone (deleted by someone else, or with its Agent) are dropped.
        """
        now = self._clock()
        due = []
        for kept in list(self._kept.values()):
            if now - kept.since < self._ttl:
                continue
            indexed = next((pod for pod in pods_of(kept.owner) if uid_of(pod) == kept.uid), None)
            if indexed is None or not is_finished(indexed):
                del self._kept[kept.uid]
                continue
            due.append(kept)
        return due

    async def sweep(self, pods_of: PodsOf) -> int:
        """Delete the due pods, one request per batch; returns how many pods were deleted."""
        deleted = 0
        for batch in batches(self.due(pods_of)):
            expected = {kept.uid for kept in batch.pods}
            # Noted before the request: the DELETED events can arrive before its response.
            self._swept.update(dict.fromkeys(expected, self._clock()))
            try:
                items = await self._kube.delete_collection(
                    PODS,
                    batch.namespace,
                    label_selector=batch.label_selector,
                    field_selector=ONLY_FINISHED,
                    grace_seconds=0,
                )
            except ApiError as error:
                for uid in expected:
                    self._swept.pop(uid, None)
                log.warning(
                    "deleting %d finished pods in %s failed (next sweep retries): %s",
                    len(batch.pods),
                    batch.namespace,
                    error,
                )
                continue
            for uid in expected - {uid_of(item) for item in items}:
                self._swept.pop(uid, None)  # spared by the field selector: not deleted after all
            for kept in batch.pods:
                self._kept.pop(kept.uid, None)
            deleted += len(items)
        forgotten = self._clock() - SWEPT_MEMORY_SECONDS
        self._swept = {uid: at for uid, at in self._swept.items() if at > forgotten}
        metrics.FINISHED_PODS_DELETED.inc(deleted)
        return deleted

    async def run(self, pods_of: PodsOf, ready: Callable[[], bool]) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            if not ready() or not self._kept:
                continue
            try:
                await self.sweep(pods_of)
            except Exception:
                # The loop must outlive a bug in one sweep, or finished pods would pile up for good.
                log.exception("sweeping finished pods failed; trying again in %.0f s", self.sweep_interval)
