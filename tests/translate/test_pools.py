"""Pools in the translation: members as core children, their Agents and pods, the resource-name check, and the
pool sizes in status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_supervisor import api, supervision
from agent_supervisor.supervision import ChildExited, ChildReady, ExitReason, Start, SupervisorState, decide
from agent_supervisor.translate import agent_pod, labels, manifests, members, pod_exits, projection
from agent_supervisor.translate.observe import observe
from agent_supervisor.translate.settings import OperatorSettings
from agent_supervisor.translate.status import supervisor_status
from agent_supervisor.translate.stored_supervision import Supervision

T0 = 1_800_000_000


def pool_entry(name: str, replicas: int, template: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "pool": {"replicas": replicas, "template": template}, **fields}


@pytest.fixture
def team(make_supervisor, bodies):
    def make(replicas: int = 3, **fields: Any) -> api.AgentSupervisor:
        return make_supervisor(
            "team",
            children=[
                {"name": "lead", "agent": bodies.template()},
                pool_entry("w", replicas, bodies.template(task="work"), **fields),
                {"name": "tail", "agent": bodies.template()},
            ],
        )

    return make


def test_a_pool_is_its_members_at_its_place_in_the_start_order(team):
    spec = projection.supervisor_spec(team(3, shutdown={"brutalKill": True}, restart="permanent"))
    assert [child.name for child in spec.children] == ["lead", "w-0", "w-1", "w-2", "tail"]
    workers = spec.children[1:4]
    assert {child.template_hash for child in workers} == {workers[0].template_hash}
    assert all(child.kind is supervision.ChildKind.AGENT for child in workers)
    assert all(child.restart is supervision.RestartType.PERMANENT for child in workers)
    assert all(child.shutdown == supervision.ShutdownPolicy.brutal_kill() for child in workers)


def test_scaling_a_pool_adds_or_removes_its_highest_members(team):
    names = [child.name for child in projection.supervisor_spec(team(5)).children]
    assert names == ["lead", "w-0", "w-1", "w-2", "w-3", "w-4", "tail"]
    assert [child.name for child in projection.supervisor_spec(team(1)).children] == ["lead", "w-0", "tail"]
    assert [child.name for child in projection.supervisor_spec(team(0)).children] == ["lead", "tail"]


def test_a_pool_members_template_default_restart_follows_its_template(team):
    spec = projection.supervisor_spec(team(2))
    assert spec.children[1].restart is supervision.RestartType.TRANSIENT  # the template has a task


def test_members_are_found_by_their_canonical_names_only(team):
    sup = team(3)
    assert members.member(sup, "w-2").pool == "w"
    assert members.member(sup, "lead").pool is None
    for missing in ("w-3", "w-01", "w-", "w"):
        with pytest.raises(KeyError, match="no child"):
            members.member(sup, missing)


def test_a_member_agent_is_the_pools_template_labelled_with_the_member_and_the_pool(team):
    agent = manifests.child_agent(team(3, shutdown={"brutalKill": True}), "w-1")
    assert agent["metadata"]["name"] == "team-w-1"
    assert agent["metadata"]["labels"] == {
        labels.MANAGED_BY: "agent-supervisor",
        labels.SUPERVISOR: "team",
        labels.CHILD: "w-1",
        labels.ROOT: "team",
        labels.POOL: "w",
    }
    assert agent["spec"]["task"] == "work"
    assert agent["spec"]["restart"] == "transient"
    assert agent["spec"]["shutdown"] == {"brutalKill": True}
    assert labels.POOL not in manifests.child_agent(team(3), "lead")["metadata"]["labels"]


def test_a_member_pod_carries_the_pool_label(team):
    manifest = manifests.child_agent(team(3), "w-0")
    agent = api.Agent.model_validate({**manifest, "metadata": {**manifest["metadata"], "uid": "uid-w-0"}})
    pod = agent_pod.pod(agent, 7, "h", OperatorSettings(default_image="agent:test"))
    assert pod["metadata"]["name"] == "team-w-0-7"
    assert pod["metadata"]["labels"][labels.CHILD] == "w-0"
    assert pod["metadata"]["labels"][labels.POOL] == "w"


def test_the_resource_name_of_the_last_member_must_fit(make_supervisor, bodies):
    def problems(replicas: int) -> list[api.FieldIssue]:
        # "s"*30 + "-" + "p"*30 + "-9" is 63 characters, the most a name may have; "-10" is one too many.
        sup = make_supervisor("s" * 30, children=[pool_entry("p" * 30, replicas, bodies.template())])
        return projection.semantic_problems(sup)

    assert problems(10) == []
    (problem,) = problems(11)
    assert problem.field == "spec.children[0].name"
    assert "last member" in problem.message and "64 characters" in problem.message


def test_a_pools_template_is_checked_and_its_secrets_are_referenced(make_supervisor, bodies):
    template = bodies.template(
        tools=[{"name": "no_such_tool"}],
        model={"endpoint": "http://m:8000/v1", "name": "x", "apiKeySecretRef": {"name": "key", "key": "k"}},
    )
    sup = make_supervisor("team", children=[pool_entry("w", 2, template)])
    assert [problem.field for problem in projection.semantic_problems(sup)] == [
        "spec.children[0].pool.template.tools[0].name"
    ]
    assert projection.referenced_secrets(sup) == {"key"}


def test_status_shows_each_pools_size_and_the_pools_column(team):
    sup = team(3)
    spec = projection.supervisor_spec(sup)
    state = decide(spec, SupervisorState.initial(spec), Start(), T0).state
    for name, attempt in (("lead", 1), ("w-0", 2), ("w-1", 3)):
        state = decide(spec, state, ChildReady(name, attempt), T0).state
    status = supervisor_status(sup, spec, Supervision(state), observe([]), T0)
    api.SupervisorStatus.model_validate(status)
    assert status["pools"] == [{"name": "w", "replicas": 3, "readyReplicas": 2}]
    assert status["poolsReady"] == "w 2/3"
    assert status["readyChildren"] == "3/5"
    assert [child["name"] for child in status["children"]] == ["lead", "w-0", "w-1", "w-2", "tail"]


def test_status_of_a_supervisor_without_pools_has_no_pool_fields(make_supervisor):
    sup = make_supervisor("team")
    spec = projection.supervisor_spec(sup)
    previous = {"pools": [{"name": "gone", "replicas": 1, "readyReplicas": 1}], "poolsReady": "gone 1/1"}
    status = supervisor_status(
        sup, spec, Supervision(SupervisorState.initial(spec)), observe([]), T0, previous
    )
    assert "pools" not in status and "poolsReady" not in status


def test_the_status_of_a_supervisor_of_256_children_stays_well_under_the_object_size_limit(
    make_supervisor, bodies
):
    """Worst case: the longest names, and every child with a last exit whose message is as long as the
    operator keeps (pod_exits.MAX_MESSAGE) - in status.children and in status.supervision alike - with a
    group restart of all of them planned. etcd refuses objects over 1.5 MiB; the status must leave the spec
    room."""
    pool = "p" * api.supervisor.CHILD_NAME_MAX
    sup = make_supervisor("s" * 20, children=[pool_entry(pool, api.MAX_CHILDREN, bodies.template())])
    one_for_one = projection.supervisor_spec(sup).model_copy(update={"max_restarts": 1000})
    names = [child.name for child in one_for_one.children]
    state = decide(one_for_one, SupervisorState.initial(one_for_one), Start(), T0).state
    for name in names:
        state = decide(one_for_one, state, ChildReady(name, state.last_attempt), T0).state
    detail = "Error: " + "x" * pod_exits.MAX_MESSAGE
    for name in names:
        attempt = next(child.attempt for child in state.children if child.name == name)
        state = decide(
            one_for_one, state, ChildExited(name, attempt, ExitReason.ABNORMAL, 1, detail), T0
        ).state
        state = decide(one_for_one, state, ChildReady(name, state.last_attempt), T0).state
    one_for_all = one_for_one.model_copy(update={"strategy": supervision.Strategy.ONE_FOR_ALL})
    first = state.children[0]
    state = decide(
        one_for_all, state, ChildExited(first.name, first.attempt, ExitReason.ABNORMAL, 1, detail), T0
    ).state
    assert state.plan is not None and len(state.plan.steps) == 2 * api.MAX_CHILDREN - 1
    status = supervisor_status(sup, one_for_all, Supervision(state), observe([]), T0)
    api.SupervisorStatus.model_validate(status)
    assert len(status["children"]) == api.MAX_CHILDREN
    size = len(json.dumps({"status": status}, separators=(",", ":")))
    print(f"status of 256 children, worst case: {size / 1024:.0f} KiB")
    assert size < 1024 * 1024, f"{size} bytes"
