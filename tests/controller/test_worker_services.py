"""The Services of worker children (controller/worker_services.py): written when new or changed, never again
while unchanged, kept for a departing worker until it has stopped, deleted at once when the child is no longer
a worker with ports."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from agent_supervisor.controller.kube import SERVICES, KubeClient, NotFoundError, Resource
from agent_supervisor.controller.worker_services import WorkerServices
from agent_supervisor.supervision import ChildKind, ChildLifecycle, SupervisorState
from agent_supervisor.supervision.state import ChildState
from agent_supervisor.translate import labels
from agent_supervisor.translate.projection import parse_supervisor
from tests.translate.conftest import supervisor_body, template


class ServiceKube:
    """Holds Services by name; records every apply and delete."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def apply(
        self, resource: Resource, namespace: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert resource is SERVICES
        name = str(body["metadata"]["name"])
        self.calls.append(("apply", name))
        self.services[name] = dict(body)
        return dict(body)

    async def delete(
        self, resource: Resource, namespace: str | None, name: str, *, grace_seconds: int | None = None
    ) -> None:
        self.calls.append(("delete", name))
        if self.services.pop(name, None) is None:
            raise NotFoundError("DELETE", f"services/{name}", 404, "NotFound", "not found")


def worker(name: str, port: int | None = 8000) -> dict[str, Any]:
    ports = [] if port is None else [{"name": "mcp", "containerPort": port}]
    return {"name": name, "worker": {"image": "tools:1", "command": ["serve"], "ports": ports}}


def state(*children: tuple[str, ChildKind, ChildLifecycle]) -> SupervisorState:
    return SupervisorState(
        children=[ChildState(name=name, kind=kind, lifecycle=lifecycle) for name, kind, lifecycle in children]
    )


RUNNING_TOOLS = state(("tools", ChildKind.WORKER, ChildLifecycle.RUNNING))


def ensure(
    services: WorkerServices, kube: ServiceKube, children: list[dict[str, Any]], now: SupervisorState
) -> list[tuple[str, str]]:
    """One `ensure` with the Services that exist now; returns the calls it made."""
    before = len(kube.calls)
    sup = parse_supervisor(supervisor_body("team", children))
    asyncio.run(services.ensure(sup, now, dict(kube.services)))
    return kube.calls[before:]


def test_a_workers_service_is_written_once_and_again_only_when_it_changes() -> None:
    kube = ServiceKube()
    services = WorkerServices(cast(KubeClient, kube))

    assert ensure(services, kube, [worker("tools")], RUNNING_TOOLS) == [("apply", "team-tools")]
    service = kube.services["team-tools"]
    assert service["spec"]["selector"] == {labels.WORKER: "team-tools"}
    assert service["spec"]["ports"][0]["port"] == 8000
    assert service["metadata"]["labels"][labels.CHILD] == "tools"

    assert ensure(services, kube, [worker("tools")], RUNNING_TOOLS) == []  # unchanged: no write
    assert ensure(services, kube, [worker("tools", 9000)], RUNNING_TOOLS) == [("apply", "team-tools")]
    assert kube.services["team-tools"]["spec"]["ports"][0]["port"] == 9000


def test_a_service_deleted_by_someone_else_is_written_again() -> None:
    kube = ServiceKube()
    services = WorkerServices(cast(KubeClient, kube))
    ensure(services, kube, [worker("tools")], RUNNING_TOOLS)
    del kube.services["team-tools"]

    assert ensure(services, kube, [worker("tools")], RUNNING_TOOLS) == [("apply", "team-tools")]


def test_a_new_operator_process_writes_each_service_once_even_if_it_exists() -> None:
    kube = ServiceKube()
    ensure(WorkerServices(cast(KubeClient, kube)), kube, [worker("tools")], RUNNING_TOOLS)

    # It cannot know the existing one is what it would write: one apply, then none.
    restarted = WorkerServices(cast(KubeClient, kube))
    assert ensure(restarted, kube, [worker("tools")], RUNNING_TOOLS) == [("apply", "team-tools")]
    assert ensure(restarted, kube, [worker("tools")], RUNNING_TOOLS) == []


def test_agents_and_workers_without_ports_get_no_service() -> None:
    kube = ServiceKube()
    children = [worker("quiet", port=None), {"name": "a", "agent": template()}]
    assert ensure(WorkerServices(cast(KubeClient, kube)), kube, children, state()) == []


def test_a_departing_worker_keeps_its_service_until_it_has_stopped() -> None:
    kube = ServiceKube()
    services = WorkerServices(cast(KubeClient, kube))
    ensure(services, kube, [worker("tools"), {"name": "a", "agent": template()}], RUNNING_TOOLS)
    rest = [{"name": "a", "agent": template()}]

    stopping = state(("tools", ChildKind.WORKER, ChildLifecycle.STOPPING))
    assert ensure(services, kube, rest, stopping) == []  # still serving while it stops
    stopped = state(("tools", ChildKind.WORKER, ChildLifecycle.STOPPED))
    assert ensure(services, kube, rest, stopped) == [("delete", "team-tools")]
    assert kube.services == {}


def test_a_child_that_is_no_longer_a_worker_with_ports_loses_its_service_at_once() -> None:
    kube = ServiceKube()
    services = WorkerServices(cast(KubeClient, kube))
    ensure(services, kube, [worker("tools")], RUNNING_TOOLS)

    # Its ports dropped: the Service goes, although the worker still runs.
    assert ensure(services, kube, [worker("tools", port=None)], RUNNING_TOOLS) == [("delete", "team-tools")]

    ensure(services, kube, [worker("tools")], RUNNING_TOOLS)
    # Now an agent of that name (which needs the name for its own Service): the worker's goes at once.
    as_agent = [{"name": "tools", "agent": template()}]
    assert ensure(services, kube, as_agent, RUNNING_TOOLS) == [("delete", "team-tools")]


def test_deleting_a_service_that_is_already_gone_is_not_an_error() -> None:
    kube = ServiceKube()
    services = WorkerServices(cast(KubeClient, kube))
    ensure(services, kube, [worker("tools")], RUNNING_TOOLS)
    asyncio.run(services.delete("team-ns", "team-tools"))
    asyncio.run(services.delete("team-ns", "team-tools"))  # NotFound: nothing to do
    assert kube.calls[-2:] == [("delete", "team-tools"), ("delete", "team-tools")]
    # Forgotten: the next ensure writes it again.
    assert ensure(services, kube, [worker("tools")], RUNNING_TOOLS) == [("apply", "team-tools")]
