"""Each strategy replaces exactly OTP's set of pods, in OTP's order, when a chosen child crashes."""

from __future__ import annotations

from typing import Any

from tests.operator_e2e.harness import Env, Operator, agent_child, supervisor, wait_for, wait_running

REQUESTS = "agent_supervisor_api_requests_total"


GRACEFUL = {"graceSeconds": 5}
"""OTP's default kind of stop: each waits for the one before it (brutal kills go out together)."""


def start_team(env: Env, strategy: str, shutdown: dict[str, Any] | None = None) -> None:
    # Each incarnation a new pod: these are the pod-replacing path's cases (test_in_place.py: in place).
    env.operator("op-1", "--no-in-place-restarts")
    extra = {} if shutdown is None else {"shutdown": shutdown}
    children = [agent_child(name, **extra) for name in ("a", "b", "c")]
    # A window far longer than any test run: the restart count asserted after a slow restart must not lapse.
    env.apply(supervisor("team", children, strategy=strategy, periodSeconds=600))
    wait_running(env, "team", 3)
    # Initial start-up is in order, each child after the previous one is Ready: attempts 1, 2, 3.
    assert sorted(env.running_pods()) == ["team-a-1", "team-b-2", "team-c-3"]


def writes(operator: Operator) -> float:
    """The operator's API writes, its Lease renewals excepted."""
    verbs = ("POST", "PATCH", "PUT", "DELETE")
    return sum(operator.metric(REQUESTS, {"verb": verb}) for verb in verbs) - sum(
        operator.metric(REQUESTS, {"verb": verb, "resource": "leases"}) for verb in verbs
    )


def test_one_for_one_replaces_only_the_crashed_child(env: Env) -> None:
    start_team(env, "one_for_one")
    pods = env.record_pods()
    operator = env.operators[0]
    writes_before = writes(operator)

    env.kill_pod("team-b-2")

    wait_for(lambda: "team-b-4" in env.running_pods(), what="b's replacement team-b-4 Ready")
    wait_running(env, "team", 3)
    wait_for(lambda: env.status("agents", "team-b").get("phase") == "Running", what="team-b Running")
    print(f"API writes for one one_for_one restart, until Ready: {writes(operator) - writes_before:.0f}")
    assert pods.created() == ["team-b-4"]
    # The crashed pod stays, finished, for --finished-pod-ttl (its logs readable); nothing else is stopped.
    assert pods.deletion_requested() == []
    assert env.pods()["team-b-2"]["status"]["phase"] == "Failed"
    assert env.running_pods() == {"team-a-1", "team-b-4", "team-c-3"}
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "1/3"
    assert [(c["name"], c["restarts"]) for c in status["children"]] == [("a", 0), ("b", 1), ("c", 0)]
    assert operator.metric("agent_supervisor_restarts_total", {"child": "b", "reason": "abnormal"}) == 1
    assert operator.metric("agent_supervisor_reaction_seconds_count") == 1


def test_one_for_all_stops_the_others_in_reverse_then_starts_all_in_order(env: Env) -> None:
    start_team(env, "one_for_all", GRACEFUL)
    pods = env.record_pods()

    env.kill_pod("team-b-2")

    wait_for(lambda: env.running_pods() == {"team-a-4", "team-b-5", "team-c-6"}, what="a, b, c replaced")
    wait_running(env, "team", 3)
    # The others stop in reverse start order (c, then a); then all start in start order, each one only
    # after the previous one is Ready.
    stops = [name for name in pods.deletion_requested() if name != "team-b-2"]
    assert stops == ["team-c-3", "team-a-1"]
    assert pods.created() == ["team-a-4", "team-b-5", "team-c-6"]
    assert pods.index("team-c-3", "ended") < pods.index("team-a-1", "deleting"), "one stop at a time"
    assert pods.index("team-a-1", "ended") < pods.index("team-a-4", "created"), "stops end before starts"
    for previous, following in (("team-a-4", "team-b-5"), ("team-b-5", "team-c-6")):
        assert pods.index(previous, "ready") < pods.index(following, "created"), (
            f"{following} is created only after {previous} is Ready"
        )
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "1/3", "a group restart counts once"
    assert [(c["name"], c["restarts"]) for c in status["children"]] == [("a", 0), ("b", 1), ("c", 0)]
    group_restarts = env.operators[0].metric(
        "agent_supervisor_group_restarts_total", {"strategy": "one_for_all"}
    )
    assert group_restarts == 1


def test_rest_for_one_restarts_the_crashed_child_and_those_after_it(env: Env) -> None:
    start_team(env, "rest_for_one")
    pods = env.record_pods()

    env.kill_pod("team-b-2")

    wait_for(lambda: env.running_pods() == {"team-a-1", "team-b-4", "team-c-5"}, what="b and c replaced")
    wait_running(env, "team", 3)
    assert pods.created() == ["team-b-4", "team-c-5"]
    assert [name for name in pods.deletion_requested() if name != "team-b-2"] == ["team-c-3"]
    assert "team-a-1" not in pods.deletion_requested()


def test_deleting_a_supervisor_stops_its_children_in_reverse_start_order(env: Env) -> None:
    start_team(env, "one_for_one", GRACEFUL)
    pods = env.record_pods()

    env.kubectl("delete", "agentsupervisor", "team", "--wait=false")

    wait_for(lambda: env.get("agentsupervisors", "team") is None, what="the supervisor to be gone")
    # The last pod's DELETED event can reach this recorder after the supervisor is gone.
    wait_for(lambda: len(pods.deletion_requested()) >= 3, what="the recorder to see the three deletions")
    assert pods.deletion_requested()[:3] == ["team-c-3", "team-b-2", "team-a-1"]
    assert pods.index("team-c-3", "ended") < pods.index("team-b-2", "deleting"), "one stop at a time"
    assert pods.index("team-b-2", "ended") < pods.index("team-a-1", "deleting"), "one stop at a time"
    wait_for(lambda: not env.pods(), what="garbage collection of the pods")
