"""Lease election against the local API server, and the reconcile queue's contract, in-process and fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import kopf
import pytest

from agent_supervisor.controller.kube import LEASES, KubeClient
from agent_supervisor.controller.leader import LeaderElector, LeadershipLostError, LeaseSettings
from agent_supervisor.controller.workqueue import WorkQueue
from localcluster.apiserver import ApiServer

DURATION = 1.0
RENEW = 0.2


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[KubeClient]:
    server = ApiServer(tmp_path / "state")
    await server.start()

    async def credentials() -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server.url, token=server.token)

    try:
        async with KubeClient(login=credentials) as client:
            yield client
    finally:
        await server.stop()


def elector(kube: KubeClient, identity: str) -> LeaderElector:
    settings = LeaseSettings("default", identity, duration_seconds=DURATION, renew_seconds=RENEW)
    return LeaderElector(kube, settings)


async def holder(kube: KubeClient) -> str | None:
    lease = await kube.get(LEASES, "default", "agent-supervisor-operator")
    identity = lease["spec"].get("holderIdentity")
    return None if identity is None else str(identity)


async def test_only_one_replica_holds_the_lease_and_a_release_hands_it_over(kube: KubeClient) -> None:
    first, second = elector(kube, "one"), elector(kube, "two")
    await first.acquire()
    holding = asyncio.create_task(first.hold())
    waiting = asyncio.create_task(second.acquire())

    done, _ = await asyncio.wait({waiting}, timeout=3 * DURATION)
    assert not done, "the second replica must not acquire a lease that is being renewed"
    assert (first.is_leader, second.is_leader) == (True, False)

    holding.cancel()
    await first.release()
    started = time.monotonic()
    await asyncio.wait_for(waiting, timeout=5)
    assert time.monotonic() - started < DURATION, "a released lease is taken at once"
    assert await holder(kube) == "two"


async def test_a_lease_that_is_no_longer_renewed_is_taken_over_after_its_duration(kube: KubeClient) -> None:
    crashed, survivor = elector(kube, "crashed"), elector(kube, "survivor")
    await crashed.acquire()  # and then never renews, like a replica that was killed

    started = time.monotonic()
    await asyncio.wait_for(survivor.acquire(), timeout=10)

    assert time.monotonic() - started >= DURATION
    assert await holder(kube) == "survivor"


async def test_a_holder_that_finds_the_lease_taken_stops_at_once(kube: KubeClient) -> None:
    loser = elector(kube, "loser")
    await loser.acquire()
    await kube.merge_patch(
        LEASES, "default", "agent-supervisor-operator", {"spec": {"holderIdentity": "usurper"}}
    )

    with pytest.raises(LeadershipLostError):
        await asyncio.wait_for(loser.hold(), timeout=5)
    assert not loser.is_leader


def test_lease_settings_reject_a_renew_period_that_is_not_shorter_than_the_duration() -> None:
    with pytest.raises(ValueError, match="shorter than the lease duration"):
        LeaseSettings("default", "x", duration_seconds=5, renew_seconds=5)


async def test_the_queue_hands_out_a_key_once_however_often_it_is_added() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(3):
        queue.add("a")
    queue.add("b")

    assert [(await queue.get())[0], (await queue.get())[0]] == ["a", "b"]
    assert len(queue) == 0


async def test_a_key_added_while_it_is_reconciled_waits_for_the_reconcile_to_end() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key, _ = await queue.get()
    queue.add("a")

    assert len(queue) == 0, "a second worker must not get a key that is being reconciled"
    queue.done(key)
    assert (await asyncio.wait_for(queue.get(), timeout=1))[0] == "a"


async def test_delayed_adds_keep_the_earliest_wake_up() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 5.0)
    queue.add_after("a", 0.05)
    queue.add_after("a", 3.0)

    started = time.monotonic()
    assert (await asyncio.wait_for(queue.get(), timeout=1))[0] == "a"
    assert time.monotonic() - started < 1
    queue.close()


async def test_failures_are_retried_with_a_growing_delay_until_one_succeeds() -> None:
    queue: WorkQueue[str] = WorkQueue()
    delays = [queue.retry("a") for _ in range(4)]
    queue.succeeded("a")

    assert delays == sorted(delays) and delays[0] < delays[-1]
    assert queue.retry("a") == delays[0], "a success resets the backoff"
    queue.close()
