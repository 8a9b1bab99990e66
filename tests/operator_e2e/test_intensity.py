"""Restart intensity: crashes within it restart, one more escalates; escalation in a 2-level tree."""

from __future__ import annotations

from functools import partial
from typing import Any

from tests.operator_e2e.harness import (
    Env,
    agent_child,
    attempt_pods,
    supervisor,
    wait_for,
    wait_running,
)


def window_is(env: Env, name: str, restarts: str) -> bool:
    return env.status("agentsupervisors", name).get("restartsInWindow") == restarts


def test_crashes_within_the_intensity_restart_and_one_more_escalates(env: Env) -> None:
    env.operator()
    env.apply(supervisor("solo", [agent_child("a"), agent_child("b")], maxRestarts=2, periodSeconds=60))
    wait_running(env, "solo", 2)
    operator = env.operators[0]
    solo = {"supervisor": "solo"}
    wait_for(lambda: operator.metric("agent_supervisor_restart_budget_max", solo) == 2, what="solo's budget")
    assert operator.metric("agent_supervisor_restart_budget_left", solo) == 2

    for restarts, left in (("1/2", 1), ("2/2", 0)):
        env.kill_pod(f"solo-a-{attempt_pods(env)['a']}")
        wait_for(partial(window_is, env, "solo", restarts), what=f"{restarts} restarts in the window")
        wait_for(
            lambda: operator.metric("agent_supervisor_restart_budget_left", solo) == left,  # noqa: B023
            what=f"the metric of {left} restarts left",
        )
        wait_running(env, "solo", 2)
    pods = env.record_pods()

    env.kill_pod(f"solo-a-{attempt_pods(env)['a']}")

    wait_for(lambda: env.status("agentsupervisors", "solo").get("phase") == "Failed", what="solo Failed")
    exhausted = env.condition("agentsupervisors", "solo", "RestartBudgetExhausted")
    assert exhausted is not None and exhausted["status"] == "True"
    assert exhausted["reason"] == "IntensityExceeded"
    wait_for(lambda: not attempt_pods(env), what="every child stopped")
    assert pods.created() == [], "the restart that exceeds the intensity is never attempted"
    # Pods deleted without grace are gone for the operator when their DELETE returns: the status can be
    # written before their DELETED events reach this recorder.
    wait_for(lambda: "solo-b-2" in pods.deletion_requested(), what="the other children stopped")
    wait_for(
        lambda: {"IntensityExceeded", "Escalated"} <= {event["reason"] for event in env.events()},
        what="the IntensityExceeded and Escalated events",
    )
    last_exit = env.status("agentsupervisors", "solo")["lastExit"]
    assert (last_exit["classification"], last_exit["reason"]) == ("shutdown", "IntensityExceeded")
    assert operator.metric("agent_supervisor_restart_budget_exhaustions_total") == 1
    assert operator.metric("agent_supervisor_escalations_total") == 1
    failed = {"kind": "AgentSupervisor", "phase": "Failed"}
    wait_for(
        lambda: operator.metric("agent_supervisor_resources", failed) == 1, what="solo counted as Failed"
    )


def two_level_tree(restart: str) -> dict[str, Any]:
    inner = {
        "name": "inner",
        "restart": restart,
        "supervisor": {"maxRestarts": 0, "children": [agent_child("w")]},
    }
    return supervisor("root", [agent_child("a"), inner], maxRestarts=3, periodSeconds=60)


def test_a_permanent_child_supervisor_that_escalates_is_restarted_by_its_parent(env: Env) -> None:
    env.operator()
    env.apply(two_level_tree("permanent"))
    wait_running(env, "root", 2)
    wait_running(env, "root-inner", 1)
    before = attempt_pods(env)

    env.kill_pod(f"root-inner-w-{before['w']}")

    # inner may not restart anything (maxRestarts 0): it stops and exits; root restarts it as a new
    # incarnation, which starts w again.
    wait_for(
        lambda: attempt_pods(env).get("w", before["w"]) != before["w"] and ready_root(env),
        timeout=60,
        what="w started again by a new incarnation of inner",
    )
    root = env.status("agentsupervisors", "root")
    assert {c["name"]: c["restarts"] for c in root["children"]} == {"a": 0, "inner": 1}
    assert root["restartsInWindow"] == "1/3"
    assert attempt_pods(env)["a"] == before["a"], "the sibling agent is untouched"
    inner = env.status("agentsupervisors", "root-inner")
    assert inner["supervision"]["incarnation"] > 2


def ready_root(env: Env) -> bool:
    return env.status("agentsupervisors", "root").get("readyChildren") == "2/2"


def test_a_transient_child_supervisor_that_escalates_stays_down(env: Env) -> None:
    env.operator()
    env.apply(two_level_tree("transient"))
    wait_running(env, "root", 2)
    before = attempt_pods(env)

    env.kill_pod(f"root-inner-w-{before['w']}")

    def inner_down() -> bool:
        children = {c["name"]: c for c in env.status("agentsupervisors", "root").get("children") or []}
        return bool(children.get("inner", {}).get("phase") == "Succeeded")

    wait_for(inner_down, timeout=60, what="root to record inner as exited for good")
    assert set(attempt_pods(env)) == {"a"}, "w is not started again"
    root = env.status("agentsupervisors", "root")
    assert root["phase"] == "Running"
    assert root["restartsInWindow"] == "0/3", "a transient child's shutdown exit is not a restart"
    inner_exit = {c["name"]: c for c in root["children"]}["inner"]["lastExit"]
    assert inner_exit["classification"] == "shutdown"
