"""The periodic resync: indexed objects a LIST no longer has are buried and their owners reconciled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_supervisor.controller.indexes import Indexes, ObjectKey
from agent_supervisor.controller.kube import AGENT_SUPERVISORS, AGENTS, PODS, Resource
from agent_supervisor.controller.reconciler import Controller
from agent_supervisor.controller.resync import Resync, UnusableListError, next_pause
from agent_supervisor.controller.vanished import PRUNE_EVERY, Graveyard
from agent_supervisor.translate.labels import MANAGED_SELECTOR
from agent_supervisor.translate.settings import OperatorSettings

NS = "team-ns"
SOLO = ObjectKey("Agent", NS, "solo")
TEAM = ObjectKey("AgentSupervisor", NS, "team")


def body(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": NS, "uid": uid}}


class ListingKube:
    """Answers the resync's LISTs from `existing`; every other call would be a bug in the resync."""

    def __init__(self) -> None:
        self.existing: dict[str, list[dict[str, Any]]] = {"pods": [], "agents": [], "agentsupervisors": []}
        self.selectors: list[tuple[str, str | None, str | None]] = []

    async def list_items(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> AsyncIterator[dict[str, Any]]:
        # Only uids and names are compared: whole objects would cost memory and CPU at scale.
        assert metadata_only
        self.selectors.append((resource.plural, namespace, label_selector))
        for item in self.existing[resource.plural]:
            yield item


class World:
    def __init__(self) -> None:
        self.kube = ListingKube()
        self.pods: dict[ObjectKey, list[dict[str, Any]]] = {}
        self.agents: dict[ObjectKey, list[dict[str, Any]]] = {}
        self.supervisors: dict[ObjectKey, list[dict[str, Any]]] = {}
        self.controller = Controller(self.kube, OperatorSettings(default_image="agent:test"), "test")  # type: ignore[arg-type]
        # Plain dicts stand in for kopf's indexes: the reconciler only uses get() and iteration.
        self.controller.bind(Indexes(self.pods, self.agents, self.supervisors))  # type: ignore[arg-type]
        self.triggered: list[ObjectKey] = []
        self.controller.trigger = lambda key, resource_version=None: self.triggered.append(key)  # type: ignore[method-assign]

    async def resync(self) -> tuple[int, int]:
        found = await Resync(self.controller, [NS], period=60).once()
        return found.vanished, found.forgotten


@pytest.fixture
def world() -> World:
    return World()


async def test_a_pod_deleted_unseen_is_buried_and_its_agent_reconciled(world: World) -> None:
    gone, kept = body("Pod", "solo-1", "pod-1"), body("Pod", "other-1", "pod-2")
    world.pods[SOLO] = [gone]
    world.pods[ObjectKey("Agent", NS, "other")] = [kept]
    world.kube.existing["pods"] = [kept]

    assert await world.resync() == (1, 0)

    assert world.triggered == [SOLO]
    assert world.controller.indexes.pods_of(SOLO) == []
    assert world.controller.indexes.pods_of(ObjectKey("Agent", NS, "other")) == [kept]
    assert ("pods", NS, MANAGED_SELECTOR) in world.kube.selectors


async def test_a_buried_object_is_reported_once_and_forgotten_when_the_index_drops_it(world: World) -> None:
    gone = body("Pod", "solo-1", "pod-1")
    world.pods[SOLO] = [gone]
    assert await world.resync() == (1, 0)
    assert await world.resync() == (0, 0)
    assert len(world.controller.graveyard) == 1

    world.pods[SOLO] = []  # kopf saw the deletion after all
    await world.resync()
    assert len(world.controller.graveyard) == 0


async def test_a_child_resource_deleted_unseen_queues_its_parent_and_itself(world: World) -> None:
    child = body("Agent", "team-a", "agent-1")
    sibling = body("AgentSupervisor", "team-b", "sup-1")
    world.agents[TEAM] = [child]
    world.supervisors[TEAM] = [sibling]
    world.kube.existing["agentsupervisors"] = [sibling]

    assert await world.resync() == (1, 0)

    assert world.triggered == [TEAM, ObjectKey("Agent", NS, "team-a")]
    assert world.controller.indexes.agents_of(TEAM) == []
    assert world.controller.indexes.supervisors_of(TEAM) == [sibling]


async def test_remembered_resources_that_no_longer_exist_are_queued_to_be_forgotten(world: World) -> None:
    world.controller._phases.update({SOLO: "Running", TEAM: "Running"})
    world.kube.existing["agentsupervisors"] = [body("AgentSupervisor", "team", "sup-1")]

    assert await world.resync() == (0, 1)

    assert world.triggered == [SOLO]


async def test_everything_present_changes_nothing(world: World) -> None:
    pod, agent = body("Pod", "team-a-1", "pod-1"), body("Agent", "team-a", "agent-1")
    world.pods[TEAM] = [pod]
    world.agents[TEAM] = [agent]
    world.kube.existing.update(pods=[pod], agents=[agent])
    world.controller._phases[ObjectKey("Agent", NS, "team-a")] = "Running"

    assert await world.resync() == (0, 0)

    assert world.triggered == []
    assert world.controller.indexes.pods_of(TEAM) == [pod]


async def test_cluster_wide_lists_every_namespace_once(world: World) -> None:
    await Resync(world.controller, None, period=60).once()
    assert sorted(world.kube.selectors, key=str) == sorted(
        [
            (PODS.plural, None, MANAGED_SELECTOR),
            (AGENTS.plural, None, None),
            (AGENT_SUPERVISORS.plural, None, None),
        ],
        key=str,
    )


async def test_a_list_without_uids_stops_the_resync_before_anything_is_buried(world: World) -> None:
    world.pods[SOLO] = [body("Pod", "solo-1", "pod-1")]
    world.kube.existing["pods"] = [{"metadata": {"name": "solo-1", "namespace": NS}}]

    with pytest.raises(UnusableListError):
        await world.resync()

    assert world.triggered == []
    assert len(world.controller.graveyard) == 0


def test_the_graveyard_prunes_itself_against_the_indexes_after_many_burials() -> None:
    graveyard = Graveyard()
    for number in range(PRUNE_EVERY - 1):
        graveyard.bury(f"uid-{number}")
    assert not graveyard.wants_pruning
    graveyard.bury("uid-last")
    assert graveyard.wants_pruning

    graveyard.keep_only({"uid-last", "never-buried"})

    assert len(graveyard) == 1
    assert graveyard.holds({"metadata": {"uid": "uid-last"}})
    assert not graveyard.wants_pruning


def test_a_slow_resync_stretches_the_pause_so_that_resyncs_stay_a_small_share_of_the_time() -> None:
    assert next_pause(60, 0.5) == 60
    assert next_pause(60, 6.0) == pytest.approx(200)
    assert 6.0 / (next_pause(60, 6.0) + 6.0) < 0.03
