"""Every example in examples/ runs on the demo stack: applied with kubectl, it becomes Ready (a supervisor, a
service agent) or Succeeded (a task agent). One stack for the module keeps the time low."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_supervisor.cli.demo import MODEL_SECRET, NAMESPACE, main_resource, settled
from agent_supervisor.cli.demo_stack import EXAMPLES, DemoStack, wait_until

pytestmark = pytest.mark.cluster

WORKLOADS = sorted(path for path in EXAMPLES.glob("*.yaml") if path != MODEL_SECRET)
PLURAL = {"Agent": "agents", "AgentSupervisor": "agentsupervisors"}


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with DemoStack() as demo:
        demo.start_cluster()
        demo.start_model_server()
        demo.start_operator()
        demo.kubectl("apply", "-n", NAMESPACE, "-f", str(MODEL_SECRET))
        yield demo


def test_every_workload_example_is_tested() -> None:
    assert {path.name for path in WORKLOADS} >= {
        "standalone-agent.yaml",
        "coordinator-worker.yaml",
        "one-for-all-team.yaml",
        "rest-for-one-pipeline.yaml",
        "two-level-tree.yaml",
        "worker-pool.yaml",
        "worker-tool-server.yaml",
        "mcp-tools.yaml",
    }


@pytest.mark.parametrize("example", WORKLOADS, ids=lambda path: path.stem)
def test_example_becomes_ready_on_the_local_stack(stack: DemoStack, example: Path) -> None:
    resource = main_resource(example)
    kind, name = PLURAL[resource["kind"]], resource["metadata"]["name"]
    is_task = resource["kind"] == "Agent" and bool(resource["spec"].get("task"))
    stack.kubectl("apply", "-n", NAMESPACE, "-f", str(example))
    try:
        phase = wait_until(lambda: settled(stack, kind, name), 45, f"{kind} {name} to be Ready")
        assert phase == ("Succeeded" if is_task else "Running"), stack.operator_log_tail()
    finally:
        stack.kubectl("delete", "-n", NAMESPACE, "-f", str(example), "--wait=false")
