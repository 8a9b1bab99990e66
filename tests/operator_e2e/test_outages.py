"""Issue 13: a dependency outage longer than the retry budget is a state, not a crash (or, under
`onDependencyOutage: exit`, OTP's crash-and-restart).

A real agent process waits for a model server (or an MCP tool server) that is down, the operator shows it
(Agent condition, the supervisors' Degraded up the tree, Events) without restarting anyone, and the task
completes once the server is up.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import httpx

from tests.operator_e2e.harness import (
    Env,
    agent_child,
    agent_template,
    free_port,
    supervisor,
    wait_for,
    wait_running,
)
from tests.operator_e2e.test_mcp_tools import calculator, task_result, tool_server


@contextmanager
def model_server(env: Env, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The scripted model server on `port`, up for the duration of the block (or until the test kills it)."""
    log = (env.workdir / f"model-server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent_runtime", "model-server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="the model server")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def condition(env: Env, kind: str, name: str, condition_type: str) -> dict[str, Any]:
    return env.condition(kind, name, condition_type) or {}


def degraded_is(env: Env, name: str, status: str) -> bool:
    return condition(env, "agentsupervisors", name, "Degraded").get("status") == status


def events_about(env: Env, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in env.events(reason) if (e.get("involvedObject") or {}).get("name") == name]


def test_a_model_outage_is_waited_out_without_a_restart_and_shown_up_the_tree(env: Env) -> None:
    env.operator()
    port = free_port()  # nothing listens there yet: every call is refused
    host = f"127.0.0.1:{port}"
    template = agent_template(
        model={
            "endpoint": f"http://{host}/v1",
            "name": "finish",
            # A retry budget spent in well under a second: the outage begins at once.
            "retry": {"maxAttempts": 2, "initialBackoffSeconds": 0.1, "maxBackoffSeconds": 0.5},
        },
        task="do the work",
        tools=[{"name": "finish"}],
    )
    # org -> team (a nested supervisor) -> job: the outage shows on team and, through it, on org.
    team = {
        "name": "team",
        "supervisor": {"children": [agent_child("job", restart="transient", agent=template)]},
    }
    env.apply(supervisor("org", [team]))
    job, team_name = "org-team-job", "org-team"

    wait_for(
        lambda: condition(env, "agents", job, "DependencyAvailable").get("status") == "False",
        timeout=60,
        what="the Agent's DependencyAvailable False",
    )
    unavailable = condition(env, "agents", job, "DependencyAvailable")
    assert unavailable["reason"] == "ModelUnavailable"
    assert host in unavailable["message"]
    assert unavailable["observedGeneration"] == env.get("agents", job)["metadata"]["generation"]
    wait_for(
        lambda: condition(env, "agentsupervisors", team_name, "Degraded").get("status") == "True",
        what="the supervisor Degraded",
    )
    assert "job" in condition(env, "agentsupervisors", team_name, "Degraded")["message"]
    wait_for(
        lambda: condition(env, "agentsupervisors", "org", "Degraded").get("status") == "True",
        what="the root supervisor Degraded through its child supervisor",
    )
    assert (
        "team (a degraded child supervisor)"
        in condition(env, "agentsupervisors", "org", "Degraded")["message"]
    )
    [warning] = wait_for(
        lambda: events_about(env, job, "DependencyUnavailable"), what="a DependencyUnavailable Event"
    )
    assert warning["type"] == "Warning" and host in warning["message"]
    for name in (team_name, "org"):
        [went] = wait_for(partial(events_about, env, name, "Degraded"), what=f"a Degraded Event on {name}")
        assert went["type"] == "Warning"
    # Well past the retry budget, and no restart: the same attempt, nothing counted against the intensity.
    agent = env.status("agents", job)
    waiting_attempt = agent["attempt"]
    assert agent["totalRestarts"] == 0
    assert env.status("agentsupervisors", team_name)["restartsInWindow"] == "0/3"
    columns = env.kubectl("get", "agentsupervisor", "org").stdout
    assert "DEGRADED" in columns and "True" in columns

    with model_server(env, port):
        wait_for(
            lambda: events_about(env, job, "DependencyAvailable"),
            timeout=60,
            what="a DependencyAvailable Event",
        )
        wait_for(
            lambda: env.status("agents", job).get("phase") == "Succeeded",
            timeout=60,
            what="the task completed in place",
        )
    assert condition(env, "agents", job, "DependencyAvailable")["status"] == "True"
    for name in (team_name, "org"):
        wait_for(partial(degraded_is, env, name, "False"), what=f"{name} no longer Degraded")
        wait_for(partial(events_about, env, name, "AllAvailable"), what=f"an AllAvailable Event on {name}")
    agent = env.status("agents", job)
    assert (agent["attempt"], agent["totalRestarts"], agent["lastExit"]["code"]) == (waiting_attempt, 0, 0)
    assert env.status("agentsupervisors", team_name)["restartsInWindow"] == "0/3"


def test_an_mcp_server_outage_is_a_dependency_the_agent_waits_for_without_a_restart(env: Env) -> None:
    env.operator()
    tools = tool_server("--unavailable-while", "/tmp/unavailable")
    # The tool server starts up (its readiness probe passes) but answers 503 to everything while the file
    # is there: the file is made in the pod's own /tmp before the server starts.
    # (The shell's PATH is not the kubelet's, which finds this interpreter for `python`: name it.)
    command = " ".join([sys.executable, *tools["worker"]["command"][1:]])
    tools["worker"]["command"] = ["sh", "-c", f"touch /tmp/unavailable && exec {command}"]
    env.apply(supervisor("team", [tools, calculator(env)], strategy="rest_for_one"))

    wait_for(
        lambda: condition(env, "agents", "team-calc", "DependencyAvailable").get("status") == "False",
        timeout=60,
        what="the Agent's DependencyAvailable False",
    )
    unavailable = condition(env, "agents", "team-calc", "DependencyAvailable")
    assert unavailable["reason"] == "McpServerUnavailable"
    assert "mcp:tools" in unavailable["message"] and "HTTP 503" in unavailable["message"]
    wait_for(
        lambda: condition(env, "agentsupervisors", "team", "Degraded").get("status") == "True",
        what="the supervisor Degraded",
    )
    assert "calc" in condition(env, "agentsupervisors", "team", "Degraded")["message"]
    [warning] = wait_for(
        lambda: events_about(env, "team-calc", "DependencyUnavailable"), what="a DependencyUnavailable Event"
    )
    assert "mcp:tools" in warning["message"]
    assert "McpServerUnavailable" in env.kubectl("get", "agent", "team-calc").stdout
    waiting_attempt = env.status("agents", "team-calc")["attempt"]

    # The server answers again: nobody tells the agent, it finds out by itself.
    env.kubectl("exec", "team-tools-1", "--", "rm", "/tmp/unavailable")
    wait_for(
        lambda: events_about(env, "team-calc", "DependencyAvailable"),
        timeout=60,
        what="a DependencyAvailable Event",
    )
    wait_for(
        lambda: env.status("agents", "team-calc").get("phase") == "Succeeded",
        timeout=60,
        what="the task completed with the tool server's answer",
    )
    assert wait_for(lambda: task_result(env, "calc"), what="the agent pod's termination message") == "sum: 5"
    # The same incarnation finished the task: no restart, nothing counted against the intensity.
    agent = env.status("agents", "team-calc")
    assert (agent["attempt"], agent["totalRestarts"]) == (waiting_attempt, 0)
    assert env.status("agentsupervisors", "team")["restartsInWindow"] == "0/3"
    wait_for(
        lambda: condition(env, "agentsupervisors", "team", "Degraded").get("status") == "False",
        what="the supervisor no longer Degraded",
    )


def test_under_exit_a_model_outage_crashes_the_agent_and_its_supervisor_restarts_it(env: Env) -> None:
    env.operator()
    port = free_port()
    template = agent_template(
        model={
            "endpoint": f"http://127.0.0.1:{port}/v1",
            # The scripted `hang` scenario answers after a day: the agent's first call is in flight until
            # the test kills the server, so the outage begins after the agent was seen Ready (an exit before
            # Ready would be a failed start, which fails the supervisor's own start-up instead).
            "name": "hang",
            "retry": {"maxAttempts": 2, "initialBackoffSeconds": 0.1, "maxBackoffSeconds": 0.5},
        },
        task="do the work",
        tools=[{"name": "finish"}],
        onDependencyOutage="exit",
    )
    # Room for the restarts an outage of a few seconds costs: each one is counted.
    children = [agent_child("job", restart="transient", agent=template)]
    with model_server(env, port) as server:
        env.apply(supervisor("team", children, maxRestarts=50, periodSeconds=600))
        wait_running(env, "team", 1)
        server.kill()  # the call in flight fails, and so does every retry: refused

    wait_for(
        lambda: env.status("agents", "team-job").get("totalRestarts", 0) >= 1,
        timeout=60,
        what="the agent restarted after exiting on the outage",
    )
    crashed = env.status("agents", "team-job")["lastExit"]
    assert (crashed["code"], crashed["reason"], crashed["classification"]) == (
        75,
        "ModelUnavailable",
        "abnormal",
    )
    assert f"127.0.0.1:{port}" in crashed["message"]
    in_window = int(env.status("agentsupervisors", "team")["restartsInWindow"].split("/")[0])
    assert in_window >= 1, "each exit is counted against the restart intensity"
    # The outage is shown as what it is under exit: crashes and restarts, not a wait.
    assert condition(env, "agents", "team-job", "DependencyAvailable").get("status") != "False"
