"""The Observer's view model: bodies -> the JSON the page draws (trees, timeline, node details)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_supervisor.cli.observer import timeline as timeline_module
from agent_supervisor.cli.observer.timeline import parse_message, timeline
from agent_supervisor.cli.observer.view import pod_exit, snapshot
from agent_supervisor.supervision import EventReason, RestartType
from tests.cli.bodies import NOW, NS, agent, sup
from tests.cli.test_tree_model import two_level
from tests.supervision.driver import Driver, supervisor
from tests.supervision.driver import agent as child_spec

NOW_TIME = datetime.fromisoformat(NOW)
T = int(NOW_TIME.timestamp())


def event(
    kind: str, name: str, reason: str, message: str, *, at: str = "2026-05-01T11:59:00Z", uid: str = ""
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.x", "namespace": NS, "uid": uid or f"{name}-{reason}-{at}"},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "reason": reason,
        "message": message,
        "type": "Warning",
        "lastTimestamp": at,
    }


def core_messages(spec: Any, crash: str) -> list[tuple[EventReason, str]]:
    """The Events the real supervision core emits when child `crash` exits abnormally."""
    sup_driver = Driver(spec)
    sup_driver.start_and_settle()
    sup_driver.emitted.clear()
    sup_driver.crash(crash)
    return [(emitted.reason, emitted.message) for _, _, emitted in sup_driver.emitted]


def ids(*names: str) -> list[str]:
    return [f"{NS}/{name}" for name in names]


# --- Trees --------------------------------------------------------------------------------------------------


def test_the_trees_are_tree_models_nesting_with_ids_phases_and_counts() -> None:
    sups, agents = two_level()
    shown = snapshot(sups, agents, [], [], NOW_TIME)
    [root] = shown["trees"]

    def walk(node: dict[str, Any], depth: int = 0) -> list[tuple[int, str, str, str | None]]:
        rows = [(depth, node["id"], node["kind"], node["phase"])]
        for child in node["children"]:
            rows += walk(child, depth + 1)
        return rows

    assert walk(root) == [
        (0, f"{NS}/root", "AgentSupervisor", "Running"),
        (1, f"{NS}/root-frontdesk", "Agent", "Running"),
        (1, f"{NS}/root-tools", "Worker", "Running"),
        (1, f"{NS}/root-workers#pool", "Pool", None),
        (2, f"{NS}/root-workers-0", "Agent", "Running"),
        (2, f"{NS}/root-workers-1", "Agent", "Starting"),
        (1, f"{NS}/root-research", "AgentSupervisor", "Running"),
        (2, f"{NS}/root-research-lead", "Agent", "Running"),
        (2, f"{NS}/root-research-searcher", "Agent", "Running"),
    ]
    research = root["children"][3]
    assert (research["strategy"], research["window"], research["budget"]) == ("one_for_all", [1, 1], 0)
    searcher = research["children"][1]
    assert searcher["lastExit"] == {"reason": "Error", "code": 137, "abnormal": True}
    # The page gets it over the wire as JSON.
    assert json.loads(json.dumps(shown)) == shown


# --- Timeline -----------------------------------------------------------------------------------------------


def test_a_one_for_all_restart_lists_every_child_it_took_with_it() -> None:
    [(reason, message)] = core_messages(supervisor("one_for_all", "a", "b", "c"), crash="b")
    assert reason is EventReason.GROUP_RESTARTED
    [shown] = timeline([event("AgentSupervisor", "team", reason, message)])
    assert shown["subject"] == f"{NS}/team"
    assert shown["strategy"] == "one_for_all"
    assert shown["failed"] == f"{NS}/team-b"
    assert shown["restarted"] == ids("team-a", "team-b", "team-c")


def test_a_rest_for_one_restart_lists_the_failed_child_and_those_started_after_it() -> None:
    [(reason, message)] = core_messages(supervisor("rest_for_one", "a", "b", "c", "d"), crash="b")
    [shown] = timeline([event("AgentSupervisor", "team", reason, message)])
    assert (shown["strategy"], shown["restarted"]) == ("rest_for_one", ids("team-b", "team-c", "team-d"))


def test_a_temporary_child_stopped_by_a_group_restart_is_not_listed_as_restarted() -> None:
    spec = supervisor("one_for_all", "a", child_spec("tmp", RestartType.TEMPORARY), "c")
    [(_, message)] = core_messages(spec, crash="a")
    assert parse_message(EventReason.GROUP_RESTARTED, message).restarted == ("a", "c")


def test_a_one_for_one_restart_names_the_one_child() -> None:
    [(reason, message)] = core_messages(supervisor("one_for_one", "a", "b"), crash="b")
    [shown] = timeline([event("AgentSupervisor", "team", reason, message)])
    assert (shown["reason"], shown["restarted"], shown["failed"]) == (
        "ChildRestarted",
        ids("team-b"),
        f"{NS}/team-b",
    )


def test_a_standalone_agents_restart_points_at_the_agent_itself() -> None:
    message = "child solo exited (abnormally); restarting it (restart 1 of 3 allowed in 60s)"
    [shown] = timeline([event("Agent", "solo", "ChildRestarted", message)])
    assert (shown["subject"], shown["restarted"], shown["failed"]) == (
        f"{NS}/solo",
        ids("solo"),
        f"{NS}/solo",
    )


def test_the_timeline_keeps_restart_events_about_the_projects_kinds_newest_first() -> None:
    events = [
        event("AgentSupervisor", "team", "Started", "started 2 children", at="2026-05-01T11:50:00Z"),
        event("Pod", "team-a-1", "ChildRestarted", "child a exited (abnormally); restarting it"),
        event(
            "Agent",
            "solo",
            "ChildExited",
            "child solo exited (normal); not restarted",
            at="2026-05-01T11:58Z",
        ),
        event("AgentSupervisor", "team", "IntensityExceeded", "child a exited", at="2026-05-01T11:59:30Z"),
    ]
    assert [e["reason"] for e in timeline(events)] == ["IntensityExceeded", "ChildExited"]


def test_the_timeline_is_capped_at_its_newest_entries() -> None:
    many = [
        event(
            "Agent",
            "solo",
            "ChildRestarted",
            "child solo exited (abnormally)",
            at=f"2026-05-01T11:{m:02d}:00Z",
        )
        for m in range(60)
    ] * 4
    many = [{**e, "metadata": {**e["metadata"], "uid": str(i)}} for i, e in enumerate(many)]
    shown = timeline(many)
    assert len(shown) == timeline_module.MAX_ENTRIES
    assert shown[0]["time"] == "2026-05-01T11:59:00Z"


# --- Details ------------------------------------------------------------------------------------------------


def pod(name: str, attempt: int, finished: str | None, code: int = 1, **pod_labels: str) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"running": {"startedAt": "2026-05-01T11:00:00Z"}}
        if finished is None
        else {"terminated": {"exitCode": code, "reason": "Error", "finishedAt": finished, "message": "boom"}}
    )
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"otp.agents.dev/attempt": str(attempt), **pod_labels},
        },
        "spec": {"containers": [{"name": "agent", "env": [{"name": "API_KEY", "value": "pod-env-secret"}]}]},
        "status": {"containerStatuses": [{"name": "agent", "state": state}]},
    }


def test_an_agents_detail_has_conditions_exits_newest_first_and_its_runtime_facts() -> None:
    crashed = {"reason": "Error", "code": 1, "classification": "abnormal", "time": "2026-05-01T11:59:50Z"}
    solo = agent(
        "solo",
        maxRestarts=3,
        periodSeconds=60,
        status={
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "reason": "PodReady", "message": ""}],
            "restartHistory": [T - 10, T - 50, T - 300],
            "totalRestarts": 3,
            "lastExit": crashed,
            "podName": "solo-4",
            "attempt": 4,
            "configRevision": "r2",
            "appliedConfigRevision": "r1",
        },
    )
    pods = [
        pod("solo-2", 2, "2026-05-01T11:59:10Z", **{"otp.agents.dev/agent": "solo"}),
        pod("solo-3", 3, "2026-05-01T11:59:50Z", code=137, **{"otp.agents.dev/agent": "solo"}),
        pod("solo-4", 4, None, **{"otp.agents.dev/agent": "solo"}),
        pod("other-1", 1, "2026-05-01T11:59:55Z", **{"otp.agents.dev/agent": "other"}),
    ]
    events = [event("Agent", "solo", "ChildRestarted", "child solo exited (abnormally); restarting it")]
    shown = snapshot([], [solo], events, pods, NOW_TIME)["details"][f"{NS}/solo"]
    assert [c["type"] for c in shown["conditions"]] == ["Ready"]
    assert shown["restartWindow"] == {
        "max": 3,
        "periodSeconds": 60,
        "times": ["2026-05-01T11:59:50Z", "2026-05-01T11:59:10Z"],
    }
    assert [(e["pod"], e["code"]) for e in shown["exits"]] == [("solo-3", 137), ("solo-2", 1)]
    assert shown["logPod"] == "solo-3"
    assert shown["runtime"] == {
        "podName": "solo-4",
        "attempt": 4,
        "configRevision": "r2",
        "appliedConfigRevision": "r1",
    }
    assert shown["lastExit"]["reason"] == "Error"
    assert [e["reason"] for e in shown["events"]] == ["ChildRestarted"]


def test_a_supervised_agent_has_no_window_of_its_own_and_a_worker_gets_its_pods_exits() -> None:
    sups, agents = two_level()
    worker_pod = pod("root-tools-1", 1, "2026-05-01T11:59:00Z", **{"otp.agents.dev/worker": "root-tools"})
    details = snapshot(sups, agents, [], [worker_pod], NOW_TIME)["details"]
    assert details[f"{NS}/root-frontdesk"]["restartWindow"] is None
    assert details[f"{NS}/root"]["restartWindow"]["max"] == 2
    assert details[f"{NS}/root-tools"]["logPod"] == "root-tools-1"


def test_nothing_from_a_spec_or_a_pods_env_reaches_the_snapshot() -> None:
    team = sup(
        "team",
        [{"name": "a", "agent": {"env": [{"name": "K", "value": "spec-child-secret"}]}}],
        status={"phase": "Running"},
    )
    a = agent(
        "team-a",
        parent="team",
        env=[{"name": "API_KEY", "value": "spec-env-secret"}],
        status={"phase": "Running"},
    )
    pods = [pod("team-a-1", 1, "2026-05-01T11:59:00Z", **{"otp.agents.dev/agent": "team-a"})]
    text = json.dumps(snapshot([team], [a], [], pods, NOW_TIME))
    assert "team-a-1" in text
    for secret in ("spec-child-secret", "spec-env-secret", "pod-env-secret"):
        assert secret not in text


def test_a_running_pod_has_no_exit() -> None:
    assert pod_exit(pod("solo-4", 4, None)) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
bodies = st.lists(
    st.fixed_dictionaries(
        {"metadata": st.fixed_dictionaries({"name": st.text(max_size=5), "namespace": st.just(NS)})},
        optional={"status": json_values, "spec": json_values, "involvedObject": json_values},
    ),
    max_size=4,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(bodies, bodies, bodies, bodies)
def test_any_bodies_give_a_json_snapshot(
    supervisors: list[Any], agents: list[Any], events: list[Any], pods: list[Any]
) -> None:
    """Half-written or invalid resources must not take the page down: every body is read defensively."""
    shown = snapshot(supervisors, agents, events, pods, datetime(2026, 5, 1, tzinfo=UTC))
    assert json.loads(json.dumps(shown)) == shown
