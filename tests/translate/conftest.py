"""Factories of API objects and pods for the pure controller modules' tests."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from agent_supervisor import api
from agent_supervisor.translate import labels, projection


def template(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {"endpoint": "http://models.local:8000/v1", "name": "scripted"},
        "systemPrompt": "You are a test agent.",
    }
    body.update(overrides)
    return body


def agent_body(name: str = "solo", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": "Agent",
        "metadata": {"name": name, "namespace": "team-ns", "uid": f"uid-{name}", "generation": 1},
        "spec": template(**spec),
    }


def supervisor_body(
    name: str = "team", children: list[dict[str, Any]] | None = None, **spec: Any
) -> dict[str, Any]:
    if children is None:
        children = [{"name": "a", "agent": template()}, {"name": "b", "agent": template()}]
    return {
        "apiVersion": api.API_VERSION,
        "kind": "AgentSupervisor",
        "metadata": {"name": name, "namespace": "team-ns", "uid": f"uid-{name}", "generation": 1},
        "spec": {"children": children, **spec},
    }


@pytest.fixture
def make_agent() -> Callable[..., api.Agent]:
    def make(name: str = "solo", labels_: dict[str, str] | None = None, **spec: Any) -> api.Agent:
        body = agent_body(name, **spec)
        if labels_:
            body["metadata"]["labels"] = labels_
        return projection.parse_agent(body)

    return make


@pytest.fixture
def make_supervisor() -> Callable[..., api.AgentSupervisor]:
    def make(
        name: str = "team", children: list[dict[str, Any]] | None = None, **spec: Any
    ) -> api.AgentSupervisor:
        return projection.parse_supervisor(supervisor_body(name, children, **spec))

    return make


def pod(
    child: str,
    attempt: int,
    *,
    phase: str = "Running",
    ready: bool = False,
    created: str = "2026-01-01T00:00:00Z",
    terminated: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
    deleting: bool = False,
    status_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod of child `child` of supervisor `team`, as the API server would report it."""
    state: dict[str, Any] = {"running": {"startedAt": created}}
    if terminated is not None:
        state = {"terminated": terminated}
    elif waiting is not None:
        state = {"waiting": waiting}
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"team-{child}-{attempt}",
            "namespace": "team-ns",
            "creationTimestamp": created,
            "labels": {labels.SUPERVISOR: "team", labels.CHILD: child, labels.ATTEMPT: str(attempt)},
        },
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "agent", "ready": ready, "state": state}],
            **(status_extra or {}),
        },
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    return body


@pytest.fixture
def make_pod() -> Callable[..., dict[str, Any]]:
    return pod


@pytest.fixture
def bodies() -> SimpleNamespace:
    """The raw-body factories, for tests that edit a body before parsing it."""
    return SimpleNamespace(template=template, agent=agent_body, supervisor=supervisor_body)
