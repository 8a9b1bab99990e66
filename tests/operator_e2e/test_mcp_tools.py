"""An agent using the MCP tools of a tool server it is supervised with, on the local cluster with the real
operator: rest_for_one [tool server worker, agent]. The tool server is the runtime image's MCP server
(agent_runtime.mcp_tool_server); the agent reaches it by `child: tools` (its Service). And the per-server
limits (allowedTools, timeoutSeconds, maxResultBytes) on the cluster: each is a tool result the model sees."""

from __future__ import annotations

import json
from typing import Any

from tests.operator_e2e.harness import Env, agent_template, supervisor, wait_for, wait_running


def tool_server(*args: str) -> dict[str, Any]:
    """The runtime image's MCP tool server as a worker child named `tools`; `args` are extra flags."""
    return {
        "name": "tools",
        "shutdown": {"brutalKill": True},
        "worker": {
            "image": "ghcr.io/agent-supervisor/agent-supervisor-agent:latest",
            "command": [
                "python",
                "-m",
                "agent_runtime.mcp_tool_server",
                "--host",
                "$(POD_IP)",
                "--port",
                "8000",
                *args,
            ],
            "ports": [{"name": "mcp", "containerPort": 8000}],
            "readinessProbe": {"tcpSocket": {"port": "mcp"}, "periodSeconds": 1},
        },
    }


def calculator(env: Env, restart: str = "transient") -> dict[str, Any]:
    """A task agent whose scripted model (scenario `mcp-add`) calls tools__add, then finishes with it."""
    template = agent_template(
        model={"endpoint": env.model_url, "name": "mcp-add"},
        task="add two and three",
        tools=[{"name": "finish"}],
        mcpServers=[{"name": "tools", "child": "tools", "allowedTools": ["add"], "timeoutSeconds": 10}],
    )
    return {"name": "calc", "restart": restart, "shutdown": {"brutalKill": True}, "agent": template}


def children_by_name(env: Env, supervisor_name: str = "team") -> dict[str, dict[str, Any]]:
    children = env.status("agentsupervisors", supervisor_name).get("children") or []
    return {child["name"]: child for child in children}


def test_the_agent_gets_a_real_tool_result_and_a_killed_tool_server_restarts_it_and_the_agent(
    env: Env,
) -> None:
    env.operator("op-1")
    env.apply(
        supervisor("team", [tool_server(), calculator(env)], strategy="rest_for_one", periodSeconds=600)
    )
    wait_running(env, "team", 2)
    first = children_by_name(env)
    assert first["calc"]["attempt"] > first["tools"]["attempt"], "the agent starts after its tool server"

    # The scripted model waits before its tool call: the tool server dies while the agent is mid-task.
    env.kill_pod(f"team-tools-{first['tools']['attempt']}")

    wait_for(
        lambda: env.status("agents", "team-calc").get("phase") == "Succeeded",
        timeout=90,
        what="the restarted agent to finish its task with the restarted tool server",
    )
    after = children_by_name(env)
    # rest_for_one: the tool server and the agent after it restarted once, the agent after the server.
    assert after["tools"]["attempt"] > first["calc"]["attempt"]
    assert after["calc"]["attempt"] > after["tools"]["attempt"]
    assert (after["tools"]["restarts"], after["calc"]["restarts"]) == (1, 0)
    assert env.status("agentsupervisors", "team")["restartsInWindow"] == "1/3"
    assert env.status("agents", "team-calc")["lastExit"]["classification"] == "normal"
    # The task's result (the runtime's termination message on the agent's pod) is the MCP server's real
    # answer to add(2, 3).
    assert wait_for(lambda: task_result(env, "calc"), what="the agent pod's termination message") == "sum: 5"


def task_result(env: Env, child: str) -> str | None:
    for pod in env.pods().values():
        if (pod["metadata"].get("labels") or {}).get("otp.agents.dev/child") != child:
            continue
        for container in pod["status"].get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("message"):
                result = json.loads(terminated["message"]).get("result")
                if isinstance(result, str):
                    return result
    return None


def limited(env: Env, child: str, **limits: Any) -> dict[str, Any]:
    """A task agent whose scripted model (scenario `mcp-<child>`) makes one call on the tool server and then
    finishes with exactly what it saw of it; `limits` are the agent's settings for that server."""
    template = agent_template(
        model={"endpoint": env.model_url, "name": f"mcp-{child}"},
        task=f"exercise the {child} limit",
        tools=[{"name": "finish"}],
        mcpServers=[{"name": "tools", "child": "tools", **limits}],
    )
    return {"name": child, "restart": "transient", "shutdown": {"brutalKill": True}, "agent": template}


def test_the_mcp_limits_reach_the_model_as_tool_results(env: Env) -> None:
    env.operator("op-1")
    env.apply(
        supervisor(
            "limits",
            [
                tool_server(),
                # The tool server lists whoami, but this agent may only call add.
                limited(env, "denied", allowedTools=["add"]),
                # slow(5) cannot answer within the agent's one second.
                limited(env, "slow", allowedTools=["slow"], timeoutSeconds=1),
                # big(1000) answers 1000 bytes; the agent keeps 256 of them.
                limited(env, "big", allowedTools=["big"], maxResultBytes=256),
            ],
            strategy="rest_for_one",
            periodSeconds=600,
        )
    )

    for child in ("denied", "slow", "big"):
        wait_for(
            lambda child=child: env.status("agents", f"limits-{child}").get("phase") == "Succeeded",
            timeout=60,
            what=f"agent {child} to finish its task",
        )
    # Each limit is a tool result the model sees and works on, never a crash: the tasks finished normally and
    # nothing restarted.
    children = children_by_name(env, "limits")
    assert {name: child["restarts"] for name, child in children.items()} == {
        "tools": 0,
        "denied": 0,
        "slow": 0,
        "big": 0,
    }
    for child in ("denied", "slow", "big"):
        assert env.status("agents", f"limits-{child}")["lastExit"]["classification"] == "normal"

    seen = {
        child: wait_for(
            lambda child=child: task_result(env, child), what=f"the {child} pod's termination message"
        )
        for child in ("denied", "slow", "big")
    }
    assert seen["denied"] == "error: tool 'whoami' of MCP server 'tools' is not allowed; allowed: add"
    assert seen["slow"] == "error: tools__slow did not answer within 1s (timeoutSeconds)"
    assert seen["big"] == ("0123456789" * 26)[:256] + "\n[truncated at 256 bytes of 1000]"
