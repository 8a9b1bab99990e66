"""A worker child (a plain container) on the local cluster with the real operator: started first and awaited
until its readiness probe passes, restarted with the agents after it under rest_for_one, reached through its
Service, shown by kubectl."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.operator_e2e.harness import Env, agent_child, supervisor, wait_for, wait_running
from tests.operator_e2e.pod_supervisors import state as incarnation_state

# A tiny tool server: it answers every GET with the name of the pod it runs in, on its pod's own address
# (the local cluster gives each pod one), so a request through the Service says which incarnation served it.
SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["POD_NAME"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ["POD_IP"], 8000), Handler).serve_forever()
"""


def worker_child(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "shutdown": {"brutalKill": True},
        "worker": {
            "image": "ghcr.io/example/tool-server:1.0",
            "command": ["python", "-c", SERVER],
            "ports": [{"name": "http", "containerPort": 8000}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        },
    }


def otp_rows(env: Env) -> dict[str, dict[str, str]]:
    """`kubectl get otp`: one table per kind, separated by a blank line; rows by NAME, cells by column."""
    rows: dict[str, dict[str, str]] = {}
    for block in env.kubectl("get", "otp").stdout.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        starts = [match.start() for match in re.finditer(r"\S+(?: \S+)*", lines[0])]
        names = [lines[0][start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
        for line in lines[1:]:
            cells = [line[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
            rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def served_by(env: Env, service: str) -> str | None:
    """The pod that answers a request through the Service (the API server's service proxy), if one does."""
    url = f"{env.api.url}/api/v1/namespaces/{env.namespace}/services/{service}:http/proxy/"
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def test_rest_for_one_with_a_worker_first_restarts_it_and_the_agents_after_it_in_order(env: Env) -> None:
    # Each agent incarnation a new pod too, so that pod events show every start in order (a pod supervisor
    # reports an agent Ready before the kubelet's probe does: test_in_place.py). Workers always get new pods.
    env.operator("op-1", "--no-in-place-restarts")
    pods = env.record_pods()
    children = [worker_child("tools"), agent_child("a"), agent_child("b")]
    env.apply(supervisor("team", children, strategy="rest_for_one", periodSeconds=600))
    wait_running(env, "team", 3)

    # Ordered start: each agent is created only once the child before it is Ready; the worker by its probe.
    assert pods.created() == ["team-tools-1", "team-a-2", "team-b-3"]
    assert pods.index("team-tools-1", "ready") < pods.index("team-a-2", "created")
    assert pods.index("team-a-2", "ready") < pods.index("team-b-3", "created")
    assert (
        wait_for(lambda: served_by(env, "team-tools"), what="the Service to reach the worker")
        == "team-tools-1"
    )
    assert env.get("agents", "team-tools") is None, "a worker has no Agent resource"

    env.kill_pod("team-tools-1")

    replaced = {"team-tools-4", "team-a-5", "team-b-6"}
    wait_for(lambda: env.running_pods() == replaced, what="the worker and the agents after it replaced")
    wait_running(env, "team", 3)
    assert pods.created()[3:] == ["team-tools-4", "team-a-5", "team-b-6"]
    # The agents after it stop in reverse start order, then all three start again in order, each after the
    # previous one is Ready.
    assert [name for name in pods.deletion_requested() if name != "team-tools-1"][:2] == [
        "team-b-3",
        "team-a-2",
    ]
    assert pods.index("team-tools-4", "ready") < pods.index("team-a-5", "created")
    assert pods.index("team-a-5", "ready") < pods.index("team-b-6", "created")
    # The Service now routes to the new incarnation only (the killed one is not Ready).
    assert wait_for(lambda: served_by(env, "team-tools") == "team-tools-4", what="the Service to follow")

    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "1/3", "a group restart counts once"
    tools = status["children"][0]
    assert (
        tools["name"],
        tools["kind"],
        tools["phase"],
        tools["ready"],
        tools["attempt"],
        tools["restarts"],
    ) == (
        "tools",
        "Worker",
        "Running",
        True,
        4,
        1,
    )
    assert (tools["lastExit"]["classification"], tools["lastExit"]["code"]) == ("abnormal", 137)
    assert [(c["name"], c["kind"], c["restarts"]) for c in status["children"][1:]] == [
        ("a", "Agent", 0),
        ("b", "Agent", 0),
    ]

    # kubectl get otp: the supervisor's row names its worker and its phase.
    rows = otp_rows(env)
    assert rows["agent.otp.agents.dev/team-a"]["SUPERVISOR"] == "team"
    supervisor_row = rows["agentsupervisor.otp.agents.dev/team"]
    assert (supervisor_row["READY"], supervisor_row["WORKERS"]) == ("3/3", "tools Running")


def test_a_worker_removed_from_the_spec_stops_and_its_service_goes(env: Env) -> None:
    env.operator("op-1")
    env.apply(supervisor("team", [worker_child("tools"), agent_child("a")]))
    wait_running(env, "team", 2)
    assert env.get("services", "team-tools") is not None

    env.apply(supervisor("team", [agent_child("a")]))

    wait_for(lambda: env.get("services", "team-tools") is None, what="the worker's Service to be deleted")
    wait_for(lambda: "team-tools-1" not in env.running_pods(), what="the worker to stop")
    assert [c["name"] for c in env.status("agentsupervisors", "team")["children"]] == ["a"]
    assert env.get("services", "team-a") is not None, "the agent keeps its own Service"


def test_with_in_place_restarts_on_the_agents_restart_in_place_but_the_worker_gets_a_new_pod(
    env: Env,
) -> None:
    env.operator("op-1")
    children = [worker_child("tools"), agent_child("a")]
    env.apply(supervisor("team", children, strategy="rest_for_one", periodSeconds=600))
    wait_running(env, "team", 2)
    # The agent restarts in place only once the operator hears its pod supervisor; until then a stop falls
    # back to deleting the pod (as it must for a pod nobody has heard from).
    wait_for(
        lambda: (
            env.operators[0].metric("agent_supervisor_pod_supervisor_watches") == 1
            and incarnation_state(env, "team-a-2").phase == "Ready"
        ),
        what="the operator to hear the agent's pod supervisor",
    )
    pods = env.record_pods()

    env.kill_pod("team-tools-1")

    def attempts() -> list[int]:
        status = env.status("agentsupervisors", "team")
        ready = status.get("readyChildren") == "2/2"
        return [c.get("attempt") for c in status.get("children") or []] if ready else []

    wait_for(lambda: attempts() == [3, 4], what="the worker and the agent after it restarted")
    assert pods.created() == ["team-tools-3"], "only the worker needs a new pod; the agent restarts in place"
    assert env.pods()["team-tools-1"]["status"]["phase"] == "Failed"
    assert wait_for(lambda: served_by(env, "team-tools") == "team-tools-3", what="the Service to follow")
