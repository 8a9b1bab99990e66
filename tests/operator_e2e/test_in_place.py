"""In-place restarts with real agent processes: a restart is a new process in the pod of the previous
incarnation, in exactly OTP's set and order; pod-level failures still replace the pod."""

from __future__ import annotations

import json
import signal
from typing import Any

from agent_supervisor.translate.incarnations import CURRENT_ATTEMPT
from tests.operator_e2e.harness import Env, agent_child, supervisor, wait_for, wait_running
from tests.operator_e2e.pod_supervisors import (
    IncarnationRecorder,
    child_attempts,
    kill_incarnation,
    pid_alive,
    pod_annotations,
    pod_uids,
)
from tests.operator_e2e.pod_supervisors import state as incarnation_state
from tests.operator_e2e.test_restart_types import standalone, task_template

PODS = ["team-a-1", "team-b-2", "team-c-3"]


def start_team(env: Env, strategy: str, shutdown: dict[str, Any] | None = None) -> IncarnationRecorder:
    env.operator("op-1", "--in-place-restarts")
    extra = {} if shutdown is None else {"shutdown": shutdown}
    children = [agent_child(name, **extra) for name in ("a", "b", "c")]
    env.apply(supervisor("team", children, strategy=strategy, periodSeconds=600))
    wait_running(env, "team", 3)
    # The supervisor hears Ready from the pod supervisors, a moment before the kubelet's probe says so.
    wait_for(lambda: sorted(env.running_pods()) == PODS, what="the three pods Ready")
    # The kubelet's probe may pass a moment before a pod supervisor has seen its incarnation Ready: the
    # recording starts once every one has, so that it holds only what the test makes happen.
    wait_for(
        lambda: all(incarnation_state(env, pod).phase == "Ready" for pod in PODS),
        what="the pod supervisors to report Ready",
    )
    return IncarnationRecorder(env, PODS).start()


def settled(env: Env, attempts: dict[str, int]) -> bool:
    if child_attempts(env, "team") != attempts:
        return False
    status = env.status("agentsupervisors", "team")
    return status.get("phase") == "Running" and status.get("readyChildren") == "3/3"


def test_one_for_all_restarts_every_child_in_its_own_pod_in_otp_order(env: Env) -> None:
    # With a grace period, as OTP's default: each stop waits for the one before it.
    recorder = start_team(env, "one_for_all", shutdown={"graceSeconds": 5})
    uids = pod_uids(env)
    pods = env.record_pods()

    crashed = kill_incarnation(env, "team-b-2")

    wait_for(lambda: settled(env, {"a": 4, "b": 5, "c": 6}), what="a, b, c restarted in place")
    # No pod was created or deleted: the same pods (same uids) run the new incarnations.
    assert pods.created() == [] and pods.deletion_requested() == []
    assert pod_uids(env) == uids
    assert not pid_alive(crashed)
    # OTP's one_for_all: the others stop in reverse start order (c, then a), then all start in start order,
    # each after the previous one is Ready.
    exits = recorder.exits()
    assert [(e.pod, e.attempt, e.stopped) for e in exits] == [
        ("team-b-2", 2, False),
        ("team-c-3", 3, True),
        ("team-a-1", 1, True),
    ]
    assert exits[0].exit_code == 128 + signal.SIGKILL
    assert recorder.first("team-c-3", 3, "Exited") < recorder.first("team-a-1", 1, "Stopping")
    assert recorder.events("Starting") == [("team-a-1", 4), ("team-b-2", 5), ("team-c-3", 6)]
    assert recorder.exited_before_started(("team-a-1", 1), ("team-a-1", 4))
    assert recorder.ready_before_started(("team-a-1", 4), ("team-b-2", 5))
    assert recorder.ready_before_started(("team-b-2", 5), ("team-c-3", 6))
    # The attempt is on each pod too (written after the start), and the restart counted once.
    for pod, attempt in (("team-a-1", 4), ("team-b-2", 5), ("team-c-3", 6)):
        wait_for(
            lambda pod=pod, attempt=attempt: pod_annotations(env, pod).get(CURRENT_ATTEMPT) == str(attempt),
            what=f"{pod} annotated with attempt {attempt}",
        )
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "1/3"
    assert [(c["name"], c["restarts"]) for c in status["children"]] == [("a", 0), ("b", 1), ("c", 0)]
    assert env.status("agents", "team-b")["podName"] == "team-b-2"
    assert env.operators[0].metric("agent_supervisor_in_place_starts_total") == 3


def test_brutal_kills_of_a_group_restart_go_out_together_and_starts_wait_for_every_exit(env: Env) -> None:
    recorder = start_team(env, "one_for_all")  # brutalKill children

    kill_incarnation(env, "team-b-2")

    wait_for(lambda: settled(env, {"a": 4, "b": 5, "c": 6}), what="a, b, c restarted in place")
    exits = recorder.exits()
    assert (exits[0].pod, exits[0].attempt, exits[0].stopped) == ("team-b-2", 2, False)
    # Killed at once, so the two exits may be reported in either order; nothing starts before both are.
    assert sorted((e.pod, e.attempt, e.stopped) for e in exits[1:]) == [
        ("team-a-1", 1, True),
        ("team-c-3", 3, True),
    ]
    assert all(recorder.exited_before_started((e.pod, e.attempt), ("team-a-1", 4)) for e in exits)
    assert recorder.events("Starting") == [("team-a-1", 4), ("team-b-2", 5), ("team-c-3", 6)]
    assert recorder.ready_before_started(("team-a-1", 4), ("team-b-2", 5))
    assert recorder.ready_before_started(("team-b-2", 5), ("team-c-3", 6))


def test_rest_for_one_restarts_the_crashed_child_and_those_after_it_in_place(env: Env) -> None:
    recorder = start_team(env, "rest_for_one")
    pods = env.record_pods()

    kill_incarnation(env, "team-b-2")

    wait_for(lambda: settled(env, {"a": 1, "b": 4, "c": 5}), what="b and c restarted in place")
    assert pods.created() == [] and pods.deletion_requested() == []
    assert [(e.pod, e.attempt, e.stopped) for e in recorder.exits()] == [
        ("team-b-2", 2, False),
        ("team-c-3", 3, True),
    ]
    assert recorder.events("Starting") == [("team-b-2", 4), ("team-c-3", 5)]


def test_a_crashed_agent_in_a_healthy_pod_restarts_in_place_and_logs_why(env: Env) -> None:
    recorder = start_team(env, "one_for_one")

    kill_incarnation(env, "team-b-2")

    wait_for(lambda: settled(env, {"a": 1, "b": 4, "c": 3}), what="b restarted in place")
    assert recorder.events("Starting") == [("team-b-2", 4)]
    status = env.status("agents", "team-b")
    assert (status["lastExit"]["code"], status["lastExit"]["reason"]) == (128 + signal.SIGKILL, "Killed")
    # kubectl logs of the pod tells why the incarnation ended.
    logs = env.kubectl("logs", "team-b-2").stdout
    assert "incarnation 2 ended" in logs, logs[-2000:]


def test_when_the_pod_supervisor_dies_the_pod_is_replaced(env: Env) -> None:
    start_team(env, "one_for_one")
    pods = env.record_pods()
    before = incarnation_state(env, "team-b-2")
    agent_pid = before.pid
    assert agent_pid is not None, before

    env.kill_pod("team-b-2")  # the container's process group: the pod supervisor itself

    wait_for(lambda: "team-b-4" in env.running_pods(), what="b's new pod team-b-4")
    wait_running(env, "team", 3)
    assert pods.created() == ["team-b-4"]
    # Nothing of the old pod lives on: its incarnation died with its pod supervisor.
    wait_for(lambda: not pid_alive(agent_pid), timeout=10, what="the old incarnation to be gone")


def test_an_operator_killed_during_an_in_place_group_restart_completes_it_exactly_once(env: Env) -> None:
    recorder = start_team(env, "one_for_all")
    kill_incarnation(env, "team-b-2")
    recorder.wait("team-a-1", 4, "Starting")
    # Starts in place chain without a status write in between (the chain writes once at its end, held
    # here): kill the operator once b's incarnation 5 has started. The status records a's start only; the
    # next operator must find b's start done (not make it again) and go on with c.
    env.cluster.delay("PATCH", r"/agentsupervisors/team/status", 5.0, count=1)
    recorder.wait("team-b-2", 5, "Starting")
    env.operators[0].kill(signal.SIGKILL)
    recorded = env.status("agentsupervisors", "team")["supervision"]["state"]["children"]
    assert [(c["name"], c["attempt"]) for c in recorded] == [("a", 4), ("b", 2), ("c", 3)], "b 5 unrecorded"
    env.operator("op-2", "--in-place-restarts")

    wait_for(lambda: settled(env, {"a": 4, "b": 5, "c": 6}), timeout=60, what="the group restart completed")
    # Each child got exactly one new incarnation: nothing repeated, nothing skipped.
    assert recorder.events("Starting") == [("team-a-1", 4), ("team-b-2", 5), ("team-c-3", 6)]
    assert sorted((e.pod, e.attempt) for e in recorder.exits()) == [
        ("team-a-1", 1),
        ("team-b-2", 2),
        ("team-c-3", 3),
    ]
    assert env.status("agentsupervisors", "team")["restartsInWindow"] == "1/3"


def test_an_incarnation_started_by_a_lost_chain_is_stopped_before_the_group_restarts_again(env: Env) -> None:
    recorder = start_team(env, "one_for_all")
    uids = pod_uids(env)
    # b's incarnation 5 reads its checkpoint slowly: a warm start is Ready in tens of milliseconds, and the
    # operator killed below must not have chained on to c's start meanwhile.
    env.cluster.delay("GET", r"/configmaps/team-b-checkpoint$", 1.0, count=1)
    kill_incarnation(env, "team-b-2")
    env.cluster.delay("PATCH", r"/agentsupervisors/team/status", 5.0, count=1)
    recorder.wait("team-b-2", 5, "Starting")
    env.operators[0].kill(signal.SIGKILL)
    # While no operator runs, a's incarnation 4 (the one the status records) crashes: the next operator
    # restarts the group again, and must first stop b's incarnation 5, which the status does not know of.
    recorder.wait("team-b-2", 5, "Ready")
    kill_incarnation(env, "team-a-1")
    recorder.wait("team-a-1", 4, "Exited")
    env.operator("op-2", "--in-place-restarts")

    wait_for(lambda: settled(env, {"a": 5, "b": 6, "c": 7}), timeout=60, what="the second group restart")
    assert recorder.events("Starting") == [
        ("team-a-1", 4),
        ("team-b-2", 5),
        ("team-a-1", 5),
        ("team-b-2", 6),
        ("team-c-3", 7),
    ]
    assert recorder.exited_before_started(("team-b-2", 5), ("team-a-1", 5)), (
        "the group is all down before it starts again"
    )
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "2/3", "b's crash and a's; stopping b 5 is no restart"
    assert pod_uids(env) == uids, "every incarnation in its child's pod"


def test_a_crash_looping_agent_restarts_in_its_pod_until_its_budget_is_spent_then_its_pod_ends(
    env: Env,
) -> None:
    env.operator("op-1", "--in-place-restarts")
    pods = env.record_pods()
    env.apply(standalone("looper", task_template(env, "slowcrash"), maxRestarts=1, periodSeconds=60))

    wait_for(lambda: env.status("agents", "looper").get("phase") == "Failed", what="looper Failed")
    status = env.status("agents", "looper")
    assert (status["attempt"], status["lastExit"]["code"]) == (2, 42)
    assert pods.created() == ["looper-1"], "the one restart allowed ran in the same pod"
    # Nothing will start in it again: the pod ends with the last incarnation's exit, as a one-process pod.
    wait_for(lambda: env.pods()["looper-1"]["status"].get("phase") == "Failed", what="looper-1 ended")
    terminated = env.pods()["looper-1"]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 42
    assert json.loads(terminated["message"])["reason"] == "CrashRequested"

    env.kubectl("annotate", "agent", "looper", "otp.agents.dev/restart=1")

    # The reset starts afresh in a new pod (the old one has ended), then in place again.
    wait_for(lambda: "looper-3" in pods.created(), what="a fresh pod after the reset")
    wait_for(lambda: env.status("agents", "looper").get("attempt") == 4, what="attempt 4 in place")
    assert pods.created() == ["looper-1", "looper-3"]


def test_a_cold_change_moves_each_child_to_a_new_pod_one_at_a_time_without_counting(env: Env) -> None:
    env.operator("op-1", "--in-place-restarts")
    env.apply(supervisor("team", [agent_child("a"), agent_child("b")]))
    wait_running(env, "team", 2)
    pods = env.record_pods()

    edit = [
        {"op": "add", "path": f"/spec/children/{index}/agent/env", "value": [{"name": "X", "value": "1"}]}
        for index in (0, 1)
    ]
    env.kubectl("patch", "agentsupervisor", "team", "--type", "json", "-p", json.dumps(edit))

    # A new template needs a new pod: the pod supervisor of the old one cannot run it.
    moved = {"team-a-3", "team-b-4"}
    wait_for(lambda: env.running_pods() == moved, timeout=60, what="both moved to new pods")
    wait_running(env, "team", 2)
    assert pods.created() == ["team-a-3", "team-b-4"]
    assert pods.index("team-a-3", "created") < pods.index("team-b-2", "deleting"), "one child at a time"
    wait_for(lambda: set(env.pods()) == {"team-a-3", "team-b-4"}, what="the old pods gone")
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "0/3"
