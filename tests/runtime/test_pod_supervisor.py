"""The pod supervisor (in-place restarts): real processes, the control API of incarnation_protocol, no mocks.

Every wait is on an event with a deadline: a line of the watch stream, the process's exit, or the agent's
own status where nothing else announces the change.
"""

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime import exitcodes
from agent_runtime.incarnation_protocol import HEARTBEAT_SECONDS, IncarnationState
from agent_runtime.pod_supervisor import settings
from tests.runtime.conftest import TOKEN
from tests.runtime.pod_harness import AUTH, PodSupervisorProcess, group_members, process_alive

CRASH_MESSAGE = "crash requested: scripted crash"


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[Callable[..., PodSupervisorProcess]]:
    started: list[PodSupervisorProcess] = []

    def make(
        config: dict[str, Any], env: dict[str, str] | None = None, token: bool = True
    ) -> PodSupervisorProcess:
        pod = PodSupervisorProcess(tmp_path / f"pod{len(started)}", config, env, token)
        started.append(pod)
        return pod

    yield make
    for pod in started:
        pod.kill()


def is_ready(attempt: int) -> Callable[[dict[str, Any]], bool]:
    return lambda state: state["attempt"] == attempt and state["phase"] == "Ready"


def has_exited(attempt: int) -> Callable[[dict[str, Any]], bool]:
    return lambda state: state["attempt"] == attempt and state["phase"] == "Exited"


def session_and_group(pid: int) -> tuple[int, int]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[3]), int(fields[2])


def crashable(make_config, model_server, marker, name, **extra):
    """A service agent with the crash tool: a message carrying [[scenario:crash]] makes it exit 42."""
    return make_config(name, model_server.url, marker, tools=[{"name": "crash"}], **extra)


def crash(pod: PodSupervisorProcess) -> None:
    assert pod.send("[[scenario:crash]] go down").status_code == 202


@dataclass
class StuckAgent:
    """A pod whose attempt 1 is Ready and busy in a tool call that ignores SIGTERM."""

    pod: PodSupervisorProcess
    watch: Any
    ready: dict[str, Any]
    tools: list[int]


def stuck_agent(name: str, model_server, pods, make_config, marker, tmp_path: Path, wait_for) -> StuckAgent:
    pids = tmp_path / "pids"
    config = make_config(
        name,
        model_server.url,
        f"[[scenario:stuck]] {marker}",
        tools=[stuck_tool(pids)],
        drainTimeoutSeconds=120,
    )
    pod = pods(config).start()
    watch = pod.watch()
    ready = watch.wait_state(is_ready(1), what="attempt 1 to be Ready")
    pod.send("hold on")
    return StuckAgent(pod, watch, ready, tool_pids(pids, wait_for))


def stuck_tool(pids: Path) -> dict[str, Any]:
    """A run_program call that never ends: a shell and a background sleep, in a session run_program opens."""
    script = 'sleep 300 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait'
    return {
        "name": "run_program",
        "settings": {"command": ["sh", "-c", script], "env": {"PIDS": str(pids)}, "timeoutSeconds": 600},
    }


def tool_pids(pids: Path, wait_for) -> list[int]:
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="the stuck tool to start")
    return [int(pid) for pid in pids.read_text().split()]


def answer(pod: PodSupervisorProcess, question: str) -> str:
    """Ask the agent (a cast) and return the result of the task it ran for it, from its event stream."""
    with httpx.stream(
        "GET", pod.agent_url + "/v1/events", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as events:
        lines = events.iter_lines()
        assert next(lines) == ": subscribed"
        assert pod.send(question).status_code == 202
        kind = ""
        for line in lines:
            kind = line.removeprefix("event: ") if line.startswith("event: ") else kind
            if kind == "task_finished" and line.startswith("data: "):
                result: str = json.loads(line.removeprefix("data: "))["result"]
                return result
    raise AssertionError("the event stream ended before the task finished")


def test_the_first_attempt_starts_at_once_in_its_own_session_and_becomes_ready(
    model_server, pods, make_config, marker, wait_for
):
    # A program sees only what its settings name (issue 15): here the attempt, which the runtime has.
    settings = {
        "command": ["sh", "-c", "echo attempt=$AGENT_ATTEMPT"],
        "inheritEnv": ["PATH", "AGENT_ATTEMPT"],
    }
    tool = {"name": "run_program", "settings": settings}
    config = make_config("first", model_server.url, f"[[scenario:attempt]] {marker}", tools=[tool])
    pod = pods(config, env={"AGENT_FIRST_ATTEMPT": "3"}).start()
    watch = pod.watch()

    first = watch.next_line()
    assert first is not None and first["type"] == "state" and first["state"]["attempt"] == 3
    ready = IncarnationState.model_validate(watch.wait_state(is_ready(3), what="attempt 3 to be Ready"))

    assert ready.pid is not None and ready.ready_at is not None and ready.exits == ()
    assert pod.process is not None and ready.pid != pod.process.pid
    assert session_and_group(ready.pid) == (ready.pid, ready.pid)
    assert IncarnationState.model_validate(pod.state()) == ready
    assert f"incarnation 3 started: pid {ready.pid}" in pod.log()
    assert answer(pod, "which attempt are you?").strip() == "attempt=3"  # AGENT_ATTEMPT, seen by its tools
    watch.close()


def test_a_crash_is_reported_and_the_next_attempt_is_a_new_process_that_resumes(
    model_server, pods, make_config, marker, tmp_path, wait_for
):
    config = crashable(make_config, model_server, marker, "phoenix", checkpoint=tmp_path / "phoenix.ckpt")
    pod = pods(config).start()
    watch = pod.watch()
    first = watch.wait_state(is_ready(1), what="attempt 1 to be Ready")
    assert pod.send("hello").status_code == 202
    wait_for(lambda: pod.agent_status()["tasksCompleted"] == 1, what="the first task")

    crash(pod)
    exited = watch.wait_state(has_exited(1), what="the crash to be reported")

    assert exited["pid"] is None
    [report] = exited["exits"]
    assert {
        key: report[key] for key in ("attempt", "exitCode", "signal", "reason", "message", "stopped")
    } == {
        "attempt": 1,
        "exitCode": exitcodes.EXIT_CRASH_REQUESTED,
        "signal": None,
        "reason": "CrashRequested",
        "message": CRASH_MESSAGE,
        "stopped": False,
    }
    assert pod.process is not None and pod.process.poll() is None
    assert f"incarnation 1 ended: exit 42 (CrashRequested): {CRASH_MESSAGE}" in pod.log()
    assert not process_alive(first["pid"])

    # Attempt 2 runs without the crash tool: the crashed message, resumed from the checkpoint, now completes.
    pod.write_config({**config, "tools": []})
    response = pod.start_attempt(2)
    assert response.status_code == 202, response.text
    second = watch.wait_state(is_ready(2), what="attempt 2 to be Ready")
    assert second["pid"] not in (None, first["pid"])
    assert second["exits"] == exited["exits"]
    wait_for(
        lambda: pod.agent_status()["tasksCompleted"] == 2,
        what="attempt 2 to count the first task from the checkpoint and finish the resumed one",
    )
    watch.close()


def test_start_and_stop_requests_are_idempotent(model_server, pods, make_config, marker):
    pod = pods(make_config("steady", model_server.url, marker), env={"AGENT_FIRST_ATTEMPT": "5"}).start()
    watch = pod.watch()
    ready = watch.wait_state(is_ready(5), what="attempt 5 to be Ready")

    same = pod.start_attempt(5)
    assert same.status_code == 200 and same.json()["pid"] == ready["pid"]
    older = pod.start_attempt(4)
    assert older.status_code == 409 and older.json()["attempt"] == 5 and "older" in older.json()["message"]
    assert pod.stop_attempt(4).status_code == 200
    assert pod.stop_attempt(6).status_code == 409
    assert pod.post("/v1/incarnation/release", {"attempt": 5}).status_code == 409  # still running
    assert IncarnationState.model_validate(pod.state()) == IncarnationState.model_validate(ready)
    assert process_alive(ready["pid"])

    assert pod.stop_attempt(5, grace=10).status_code == 202
    stopped = watch.wait_state(has_exited(5), what="attempt 5 to stop")
    assert stopped["exits"][-1]["stopped"] is True
    assert stopped["exits"][-1]["reason"] == "Completed"  # it drained on SIGTERM, well within its grace
    again = pod.stop_attempt(5)
    assert again.status_code == 200 and again.json() == stopped

    assert pod.start_attempt(7).status_code == 202
    assert watch.wait_state(is_ready(7), what="attempt 7 to be Ready")["pid"] != ready["pid"]
    watch.close()


def test_a_stop_that_outlives_its_grace_period_kills_the_whole_group(
    model_server, pods, make_config, marker, tmp_path, wait_for
):
    stuck = stuck_agent("stuck", model_server, pods, make_config, marker, tmp_path, wait_for)
    pod, watch = stuck.pod, stuck.watch
    ready, tools = stuck.ready, stuck.tools

    stopping_since = time.monotonic()
    assert pod.stop_attempt(1, grace=1).status_code == 202
    exited = watch.wait_state(has_exited(1), what="the stuck incarnation to be killed")

    assert time.monotonic() - stopping_since >= 1.0  # SIGTERM did not end it: SIGKILL came at the deadline
    report = exited["exits"][-1]
    assert (report["exitCode"], report["signal"], report["reason"]) == (137, signal.SIGKILL, "Killed")
    assert report["stopped"] is True and "grace" in report["message"]
    assert not [pid for pid in tools if process_alive(pid)], "a tool process outlived its incarnation"
    assert group_members(ready["pid"]) == []
    watch.close()


def test_a_start_stopped_before_it_could_begin_is_reported_as_not_started(
    model_server, pods, make_config, marker, tmp_path, wait_for
):
    stuck = stuck_agent("never", model_server, pods, make_config, marker, tmp_path, wait_for)
    pod, watch = stuck.pod, stuck.watch

    starting = pod.start_attempt(2, grace=1)
    assert starting.status_code == 202 and starting.json()["phase"] == "Stopping"
    assert pod.start_attempt(2).status_code == 200  # already asked for
    assert pod.stop_attempt(2).status_code == 202
    assert pod.stop_attempt(2).status_code == 200  # already stopped
    done = watch.wait_state(has_exited(2), what="attempt 2 to be reported as never started")

    killed, not_started = done["exits"]
    assert (killed["attempt"], killed["reason"], killed["stopped"]) == (1, "Killed", True)
    assert (not_started["attempt"], not_started["reason"], not_started["stopped"]) == (2, "NotStarted", True)
    assert pod.start_attempt(2).status_code == 200 and pod.state()["phase"] == "Exited"
    watch.close()


def test_a_start_asked_for_while_a_cancelled_one_waits_still_begins(
    model_server, pods, make_config, marker, tmp_path, wait_for
):
    stuck = stuck_agent("again", model_server, pods, make_config, marker, tmp_path, wait_for)
    pod, watch = stuck.pod, stuck.watch

    assert pod.start_attempt(2, grace=1).status_code == 202
    assert pod.stop_attempt(2).status_code == 202
    assert pod.start_attempt(3).status_code == 202

    ready = watch.wait_state(is_ready(3), what="attempt 3 to start once attempt 1 is gone")
    assert [(done["attempt"], done["reason"]) for done in ready["exits"]] == [
        (1, "Killed"),
        (2, "NotStarted"),
    ]

    assert pod.stop_attempt(3, grace=0).status_code == 202  # a brutal kill: no SIGTERM first
    killed = watch.wait_state(has_exited(3), what="attempt 3 to be killed")["exits"][-1]
    assert (killed["exitCode"], killed["signal"], killed["message"]) == (137, 9, "killed by SIGKILL")
    watch.close()


def test_release_writes_the_summary_and_ends_the_container_with_the_exit_code(
    model_server, pods, make_config, marker
):
    pod = pods(crashable(make_config, model_server, marker, "released")).start()
    watch = pod.watch()
    watch.wait_state(is_ready(1), what="attempt 1 to be Ready")
    crash(pod)
    watch.wait_state(has_exited(1), what="the crash")
    pod.termination_path.write_text("")  # so only the pod supervisor's own write can fill it

    assert pod.post("/v1/incarnation/release", {"attempt": 2}).status_code == 409
    response = pod.post("/v1/incarnation/release", {"attempt": 1})

    assert response.status_code == 200, response.text
    assert pod.wait_exit() == exitcodes.EXIT_CRASH_REQUESTED
    summary = pod.termination()
    assert (summary["exitCode"], summary["reason"], summary["message"]) == (
        42,
        "CrashRequested",
        CRASH_MESSAGE,
    )
    line = watch.next_line()
    while line is not None:  # the stream ends with the pod supervisor
        line = watch.next_line()
    watch.close()


def test_sigterm_stops_the_incarnation_and_ends_with_its_exit(model_server, pods, make_config, marker):
    pod = pods(make_config("deleted", model_server.url, marker)).start()
    watch = pod.watch()
    ready = watch.wait_state(is_ready(1), what="attempt 1 to be Ready")

    pod.signal(signal.SIGTERM)

    exited = watch.wait_state(has_exited(1), what="the incarnation to drain")
    assert exited["exits"][-1]["stopped"] is False  # the pod's end, not an operator's stop
    assert exited["exits"][-1]["terminating"] is True  # so even its drained exit 0 is the pod's deletion
    assert pod.wait_exit() == exitcodes.EXIT_OK
    assert pod.termination()["message"] == "stopped on SIGTERM; state checkpointed"
    assert not process_alive(ready["pid"])
    watch.close()


def test_sigterm_with_nothing_running_ends_with_the_last_exit(model_server, pods, make_config, marker):
    pod = pods(crashable(make_config, model_server, marker, "gone")).start()
    watch = pod.watch()
    watch.wait_state(is_ready(1), what="attempt 1 to be Ready")
    crash(pod)
    watch.wait_state(has_exited(1), what="the crash")
    pod.termination_path.write_text("")

    pod.signal(signal.SIGTERM)

    assert pod.wait_exit() == exitcodes.EXIT_CRASH_REQUESTED
    assert pod.termination()["reason"] == "CrashRequested"
    watch.close()


def test_control_calls_need_the_token_and_well_formed_bodies(model_server, pods, make_config, marker):
    pod = pods(make_config("guarded", model_server.url, marker)).start()
    pod.wait_listening()

    missing = pod.get(headers={})
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["message"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert pod.get(headers={"Authorization": "Bearer nope"}).status_code == 401
    assert pod.get(headers={"Authorization": f"Basic {AUTH['Authorization'][7:]}"}).status_code == 401
    assert pod.post("/v1/incarnation", {"attempt": 9}, headers={}).status_code == 401
    assert pod.get().status_code == 200
    # Through the API server's pod proxy, which consumes Authorization, the token comes in its own header.
    token = AUTH["Authorization"][7:]
    assert pod.get(headers={"X-Control-Token": token}).status_code == 200
    assert pod.get(headers={"X-Control-Token": "nope"}).status_code == 401
    assert pod.get("/healthz", headers={}).status_code in (200, 503)  # no token needed; its verdict varies

    for body, field in [
        ({"attempt": 0}, "attempt"),
        ({"attempt": "two"}, "attempt"),
        ({}, "attempt"),
        ({"attempt": 2, "graceSeconds": -1}, "graceSeconds"),
        ([2], "body"),
    ]:
        response = pod.post("/v1/incarnation", body)
        assert response.status_code == 422 and field in response.json()["message"], (body, response.text)
    garbage = httpx.post(pod.control_url + "/v1/incarnation/stop", content=b"{nope", headers=AUTH)
    assert garbage.status_code == 422 and "body" in garbage.json()["message"]
    huge = httpx.post(pod.control_url + "/v1/incarnation", content=b" " * 70_000, headers=AUTH)
    assert huge.status_code == 413
    assert pod.state()["attempt"] == 1  # nothing of it changed anything


def test_without_a_token_hash_every_control_call_is_refused(model_server, pods, make_config, marker):
    pod = pods(make_config("locked", model_server.url, marker), token=False).start()
    pod.wait_listening()

    for response in (pod.get(), pod.post("/v1/incarnation", {"attempt": 2}), pod.get(headers={})):
        assert response.status_code == 403
        assert "without a control token" in response.json()["message"]
    assert pod.get("/healthz", headers={}).status_code in (200, 503)


def test_watchers_get_the_state_first_then_every_change_and_heartbeats(
    model_server, pods, make_config, marker
):
    assert settings.MAX_HEARTBEAT_SECONDS == HEARTBEAT_SECONDS
    pod = pods(
        crashable(make_config, model_server, marker, "watched"),
        env={"AGENT_CONTROL_HEARTBEAT_SECONDS": "0.2"},
    ).start()
    watchers = [pod.watch() for _ in range(20)]
    for watcher in watchers:
        line = watcher.next_line()
        assert line is not None and line["type"] == "state"
        if not is_ready(1)(line["state"]):
            watcher.wait_state(is_ready(1), what="attempt 1 to be Ready")
    for gone in watchers[10:]:
        gone.close()  # disconnected watchers must not disturb the others
    watchers = watchers[:10]

    crash(pod)

    for watcher in watchers:
        exited = watcher.wait_state(has_exited(1), what="the crash")
        assert exited["exits"][-1]["exitCode"] == exitcodes.EXIT_CRASH_REQUESTED
    line = watchers[0].next_line(timeout=2)
    while line is not None and line["type"] != "heartbeat":
        line = watchers[0].next_line(timeout=2)
    assert line == {"type": "heartbeat"}
    assert pod.state()["phase"] == "Exited"
    for watcher in watchers:
        watcher.close()


def test_healthz_follows_the_incarnation_and_is_healthy_while_nothing_runs(
    model_server, pods, make_config, marker
):
    pod = pods(crashable(make_config, model_server, marker, "probed")).start()
    watch = pod.watch()
    ready = watch.wait_state(is_ready(1), what="attempt 1 to be Ready")
    assert pod.get("/healthz", headers={}).status_code == 200

    os.kill(ready["pid"], signal.SIGSTOP)  # a hung agent: its /healthz cannot answer
    try:
        hung = pod.get("/healthz", headers={})
    finally:
        os.kill(ready["pid"], signal.SIGCONT)
    assert hung.status_code == 503 and "not healthy" in hung.json()["message"]
    assert pod.get("/healthz", headers={}).status_code == 200

    crash(pod)
    watch.wait_state(has_exited(1), what="the crash")
    assert pod.get("/healthz", headers={}).status_code == 200  # waiting for the operator is healthy

    # The same for an incarnation forked by the forkserver (the first was a fresh interpreter).
    assert pod.start_attempt(2).status_code == 202
    watch.wait_state(is_ready(2), what="attempt 2 to be Ready")
    crash(pod)
    exited = watch.wait_state(has_exited(2), what="attempt 2's crash")
    assert (exited["exits"][-1]["exitCode"], exited["exits"][-1]["reason"]) == (42, "CrashRequested")
    assert pod.get("/healthz", headers={}).status_code == 200
    watch.close()


def test_an_unusable_setting_ends_the_pod_naming_the_variable(pods, make_config, model_server, marker):
    pod = pods(make_config("misconfigured", model_server.url, marker), env={"AGENT_FIRST_ATTEMPT": "zero"})
    pod.start()

    assert pod.wait_exit() == exitcodes.EXIT_CONFIG_INVALID
    assert "AGENT_FIRST_ATTEMPT" in pod.termination()["message"]


def test_run_once_runs_one_incarnation_in_the_process_whatever_the_environment(
    model_server, pods, make_config, marker, wait_for
):
    pod = pods(make_config("once", model_server.url, marker)).start("run-once")

    wait_for(lambda: answers(pod.agent_url + "/readyz") == 200, what="the agent to be ready")
    assert answers(pod.control_url + "/healthz") is None  # no control port
    assert pod.process is not None
    assert children(pod.process.pid) == []  # the agent runs in this very process
    pod.signal(signal.SIGTERM)
    assert pod.wait_exit() == exitcodes.EXIT_OK
    assert pod.termination()["reason"] == "Completed"


def answers(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return None


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
