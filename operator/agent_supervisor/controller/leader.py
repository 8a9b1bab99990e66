"""Leader election on a `coordination.k8s.io/v1` Lease: of several operator replicas, exactly one acts.

The holder renews the Lease every `renew_seconds`; another replica takes it over once the record has not
changed for `duration_seconds` *as measured on its own monotonic clock* (client-go's rule, immune to clock
skew between replicas). A holder that cannot renew in time, or finds someone else holding the Lease, has lost
it and must stop acting at once: `hold` raises LeadershipLost and the process exits, so that its pod restarts
as a follower.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from agent_supervisor.controller.kube import (
    LEASES,
    AlreadyExistsError,
    ApiError,
    ConflictError,
    KubeClient,
    NotFoundError,
)

log = logging.getLogger(__name__)

LEASE_NAME: Final = "agent-supervisor-operator"


class LeadershipLostError(Exception):
    """This replica no longer holds the Lease; everything it does from now on could conflict."""


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    namespace: str
    identity: str
    name: str = LEASE_NAME
    duration_seconds: float = 15.0
    renew_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_seconds < self.duration_seconds:
            raise ValueError(
                f"lease renew period ({self.renew_seconds}s) must be positive and shorter than the lease "
                f"duration ({self.duration_seconds}s)"
            )


def _micro_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, kube: KubeClient, settings: LeaseSettings) -> None:
        self._kube = kube
        self._settings = settings
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._last_renewal = 0.0
        self.is_leader = False

    async def acquire(self) -> None:
        """Return once this replica holds the Lease (trying every renew period)."""
        while True:
            try:
                if await self._try_acquire_or_renew():
                    break
            except ApiError as error:
                log.warning("could not read or take the lease: %s", error)
            await asyncio.sleep(self._settings.renew_seconds)
        log.info("acquired the lease %s/%s", self._settings.namespace, self._settings.name)

    async def hold(self) -> None:
        """Renew the Lease forever; raise LeadershipLost as soon as it may have passed to someone else."""
        settings = self._settings
        while True:
            await asyncio.sleep(settings.renew_seconds)
            try:
                renewed = await self._try_acquire_or_renew()
            except ApiError as error:
                log.warning("lease renewal failed: %s", error)
                renewed = False
            if not self.is_leader and not renewed:
                raise LeadershipLostError(f"the lease {settings.name} is held by another replica now")
            # Give up before the others may consider the lease expired (one renew period of margin).
            if time.monotonic() - self._last_renewal > settings.duration_seconds - settings.renew_seconds:
                self.is_leader = False
                raise LeadershipLostError(f"could not renew the lease {settings.name} in time")

    async def release(self) -> None:
        """Hand the Lease over at once on a clean shutdown instead of letting followers wait it out."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = await self._kube.get(LEASES, self._settings.namespace, self._settings.name)
            if (lease.get("spec") or {}).get("holderIdentity") != self._settings.identity:
                return
            await self._kube.merge_patch(
                LEASES,
                self._settings.namespace,
                self._settings.name,
                {"spec": {"holderIdentity": None, "leaseDurationSeconds": 1}},
                resource_version=lease["metadata"]["resourceVersion"],
            )
        except ApiError as error:
            log.warning("could not release the lease: %s", error)

    async def _try_acquire_or_renew(self) -> bool:
        settings = self._settings
        now = datetime.now(UTC)
        try:
            lease = await self._kube.get(LEASES, settings.namespace, settings.name)
        except NotFoundError:
            return await self._create(now)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or settings.duration_seconds)
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != settings.identity and not expired:
            self.is_leader = False
            return False
        taking_over = holder != settings.identity
        patch: dict[str, Any] = {
            "spec": {
                "holderIdentity": settings.identity,
                "leaseDurationSeconds": round(settings.duration_seconds),
                "renewTime": _micro_time(now),
            }
        }
        if taking_over:
            patch["spec"]["acquireTime"] = _micro_time(now)
            patch["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            await self._kube.merge_patch(
                LEASES,
                settings.namespace,
                settings.name,
                patch,
                resource_version=lease["metadata"]["resourceVersion"],
            )
        except ConflictError:
            self.is_leader = False
            return False
        return self._won()

    async def _create(self, now: datetime) -> bool:
        settings = self._settings
        lease = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": settings.name, "namespace": settings.namespace},
            "spec": {
                "holderIdentity": settings.identity,
                "leaseDurationSeconds": round(settings.duration_seconds),
                "acquireTime": _micro_time(now),
                "renewTime": _micro_time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            await self._kube.create(LEASES, settings.namespace, lease)
        except AlreadyExistsError:
            return False
        return self._won()

    def _won(self) -> bool:
        self.is_leader = True
        self._last_renewal = time.monotonic()
        return True
