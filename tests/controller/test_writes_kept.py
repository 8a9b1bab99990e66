"""What the operator keeps of its own writes: the last AgentSupervisor written (reused until another change of
it is seen), and which supervised Agents' statuses already reflect their supervisor's state."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any, cast

from agent_supervisor.controller.agent_statuses import SupervisedAgentStatuses
from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.controller.kube import AGENT_SUPERVISORS, AGENTS, KubeClient, Resource
from agent_supervisor.controller.writer import ResourceWriter
from agent_supervisor.supervision import ChildLifecycle
from agent_supervisor.translate import labels
from agent_supervisor.translate.projection import parse_supervisor, supervisor_spec
from agent_supervisor.translate.stored_supervision import Supervision
from tests.translate.conftest import agent_body, supervisor_body

SUPERVISOR = ObjectKey(AGENT_SUPERVISORS.kind, "team-ns", "team")


class RecordingKube:
    """Applies merge patches to the objects it holds; every write bumps the resourceVersion."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []
        self.version = 100

    async def merge_patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self.writes.append((resource.kind, name))
        self.version += 1
        status = dict(patch.get("status") or {})
        return {
            "kind": resource.kind,
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(self.version)},
            "status": status,
        }


def writer_with(kube: RecordingKube) -> ResourceWriter:
    return ResourceWriter(cast(KubeClient, kube))


def test_the_last_supervisor_written_is_reused_until_another_change_is_seen() -> None:
    kube = RecordingKube()
    writer = writer_with(kube)
    read = {"metadata": {"name": "team", "resourceVersion": "7"}, "status": {}}
    writer.keep(SUPERVISOR, read)
    assert writer.latest(SUPERVISOR) is read
    written = asyncio.run(writer.write_status(SUPERVISOR, AGENT_SUPERVISORS, read, {"phase": "Running"}))
    assert writer.latest(SUPERVISOR) is written
    assert writer.is_echo(SUPERVISOR, written["metadata"]["resourceVersion"])
    writer.drop(SUPERVISOR)  # a watch event that is not this write's echo, or a conflict
    assert writer.latest(SUPERVISOR) is None


def test_agents_are_not_kept() -> None:
    kube = RecordingKube()
    writer = writer_with(kube)
    agent = ObjectKey(AGENTS.kind, "team-ns", "team-a")
    read = {"metadata": {"name": "team-a", "resourceVersion": "7"}, "status": {}}
    writer.keep(agent, read)
    asyncio.run(writer.write_status(agent, AGENTS, read, {"phase": "Running"}))
    assert writer.latest(agent) is None


def child_agent(child: str, version: str) -> dict[str, Any]:
    body = agent_body(f"team-{child}")
    body["metadata"]["labels"] = {labels.CHILD: child, labels.SUPERVISOR: "team"}
    body["metadata"]["resourceVersion"] = version
    return body


def test_an_agent_status_is_written_again_only_when_its_inputs_or_the_agent_change() -> None:
    kube = RecordingKube()
    statuses = SupervisedAgentStatuses(writer_with(kube), lambda key: None)
    spec = supervisor_spec(parse_supervisor(supervisor_body()))
    state = Supervision.read(None, spec).state
    agents = [child_agent("a", "1"), child_agent("b", "1")]

    def write(state_now: Any, bodies: list[dict[str, Any]]) -> list[tuple[str, str]]:
        kube.writes.clear()
        asyncio.run(statuses.write(SUPERVISOR, bodies, state_now, {}, 1_800_000_000))
        return list(kube.writes)

    assert write(state, agents) == [("Agent", "team-a"), ("Agent", "team-b")]
    assert write(state, agents) == [], "nothing changed: the index still serves the version written onto"
    moved = state.model_copy(update={"children": [c.model_copy() for c in state.children]})
    moved.children[0].lifecycle = ChildLifecycle.STARTING
    moved.children[0].attempt = 1
    assert write(moved, agents) == [("Agent", "team-a")], "only the child whose state changed"
    edited = copy.deepcopy(agents)
    edited[1]["metadata"]["resourceVersion"] = "55"  # its own reconcile wrote it meanwhile
    assert write(moved, edited) == [("Agent", "team-b")]
