"""End-to-end fixtures: a local cluster per module, the project's CRDs, and real operator processes.

Agents are the real agent runtime (`python -m agent_runtime`, which the local kubelet runs for the default
agent image); the operator runs as `python -m agent_supervisor.controller.main`, a subprocess a test may
SIGKILL.
Everything is awaited with deadlines (`wait_for`), never with fixed sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from localcluster.cluster import LocalCluster, LocalClusterThread
from tests.operator_e2e.harness import REPO, TOOLS_BIN, Api, Env, free_port, wait_for

SCENARIOS = {
    # Crash on purpose (exit 42) once the agent has been Ready for a moment: a crash of a running agent,
    # not a failed start.
    "slowcrash": {
        "steps": [
            {"delaySeconds": 2.0, "toolCalls": [{"name": "crash", "arguments": {"reason": "scripted crash"}}]}
        ]
    },
    # A task through an MCP tool (test_mcp_tools.py): a pause first, so the test can kill the tool server
    # while the agent is mid-task; then add(2, 3) on the MCP server; then finish with the tool's result.
    "mcp-add": {
        "steps": [
            {"delaySeconds": 3.0, "toolCalls": [{"name": "tools__add", "arguments": {"a": 2, "b": 3}}]},
            {"toolCalls": [{"name": "finish", "arguments": {"result": "sum: {last_tool}"}}]},
        ]
    },
    # The MCP limits on the cluster (test_mcp_tools.py): one tool call each, then finish with exactly what the
    # model saw of it. One agent per limit, because a finish can only quote the last tool result.
    "mcp-denied": {
        "steps": [
            {"toolCalls": [{"name": "tools__whoami", "arguments": {}}]},
            {"toolCalls": [{"name": "finish", "arguments": {"result": "{last_tool}"}}]},
        ]
    },
    "mcp-slow": {
        "steps": [
            {"toolCalls": [{"name": "tools__slow", "arguments": {"seconds": 5}}]},
            {"toolCalls": [{"name": "finish", "arguments": {"result": "{last_tool}"}}]},
        ]
    },
    "mcp-big": {
        "steps": [
            {"toolCalls": [{"name": "tools__big", "arguments": {"size": 1000}}]},
            {"toolCalls": [{"name": "finish", "arguments": {"result": "{last_tool}"}}]},
        ]
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "operator_e2e" in str(item.path):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClusterThread]:
    state = tmp_path_factory.mktemp("cluster")
    with LocalCluster.in_thread(state / "state", shutdown_grace=2.0) as thread:
        thread.install_crds([REPO / "crds"])
        yield thread


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The runtime's scripted OpenAI-compatible model server, for agents that have a task."""
    port = free_port()
    directory = tmp_path_factory.mktemp("model")
    scenarios = directory / "scenarios.yaml"
    scenarios.write_text(yaml.safe_dump({"scenarios": SCENARIOS}))
    log = (directory / "model-server.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "agent_runtime", "model-server"),
            *("--host", "127.0.0.1", "--port", str(port), "--scenarios", str(scenarios)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/v1/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="the model server")
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def env(
    cluster: LocalClusterThread, model_server: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Env]:
    api = Api(cluster.url)
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    response = api.create("namespaces", None, {"metadata": {"name": namespace}})
    assert response.status_code == 201, response.text
    tool_env = dict(os.environ)
    tool_env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{tool_env.get('PATH', '')}"
    tool_env["KUBECONFIG"] = str(cluster.kubeconfig_path)
    tool_env["KUBECACHEDIR"] = str(tmp_path / "kubecache")
    test_env = Env(cluster, api, namespace, tool_env, tmp_path, model_server)
    try:
        yield test_env
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(test_env.dump())
        for recorder in test_env.recorders:
            recorder.stop()
        for op in test_env.operators:
            op.kill(signal.SIGTERM)
        api.delete("namespaces", None, namespace)
        api.http.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


from tests.browser import browser, browser_page  # noqa: E402, F401  (the Observer's browser test)
