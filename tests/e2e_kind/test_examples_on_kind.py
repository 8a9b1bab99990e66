"""The chart's operator supervises the examples on a real cluster: strategies, printer columns, kubectl."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from pytest_kind import KindCluster

from tests.e2e_kind.cluster import apply_example, get_json, phase, running_pods, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START_TIMEOUT = 240.0
RESTART_TIMEOUT = 120.0


def _agent(supervisor: str, child: str) -> str:
    return f"{supervisor}-{child}"


def _start(cluster: KindCluster, namespace: str, example: str, supervisor: str, children: list[str]) -> None:
    apply_example(cluster, namespace, EXAMPLES / example)
    wait_for(
        lambda: phase(cluster, "agentsupervisor", namespace, supervisor) == "Running",
        START_TIMEOUT,
        f"AgentSupervisor {supervisor} to be Running",
    )
    for child in children:
        wait_for(
            partial(running_pods, cluster, namespace, _agent(supervisor, child)),
            START_TIMEOUT,
            f"a running pod of {child}",
        )


def _pods_by_child(
    cluster: KindCluster, namespace: str, supervisor: str, children: list[str]
) -> dict[str, str]:
    return {child: running_pods(cluster, namespace, _agent(supervisor, child))[0] for child in children}


def _kill(cluster: KindCluster, namespace: str, pod: str) -> None:
    cluster.kubectl("delete", "pod", pod, "-n", namespace, "--grace-period=0", "--force", "--wait=false")


def _settled_with_new_pods(
    cluster: KindCluster, namespace: str, supervisor: str, before: dict[str, str], restarted: set[str]
) -> bool:
    """The supervisor is Running again, `restarted` children run new pods and the others their old ones."""
    if phase(cluster, "agentsupervisor", namespace, supervisor) != "Running":
        return False
    for child, old_pod in before.items():
        pods = running_pods(cluster, namespace, _agent(supervisor, child))
        if not pods:
            return False
        if (child in restarted) == (old_pod in pods):
            return False
    return True


@pytest.mark.parametrize(
    ("example", "supervisor", "children", "killed", "restarted"),
    [
        ("coordinator-worker.yaml", "pair", ["worker"], "worker", {"worker"}),
        (
            "one-for-all-team.yaml",
            "team",
            ["planner", "researcher", "writer"],
            "researcher",
            {"planner", "researcher", "writer"},
        ),
        (
            "rest-for-one-pipeline.yaml",
            "pipeline",
            ["ingest", "analyse", "report"],
            "analyse",
            {"analyse", "report"},
        ),
    ],
    ids=["one_for_one", "one_for_all", "rest_for_one"],
)
def test_killing_a_child_pod_restarts_the_children_its_strategy_names(
    cluster: KindCluster,
    namespace: str,
    example: str,
    supervisor: str,
    children: list[str],
    killed: str,
    restarted: set[str],
) -> None:
    _start(cluster, namespace, example, supervisor, children)
    before = _pods_by_child(cluster, namespace, supervisor, children)

    _kill(cluster, namespace, before[killed])

    wait_for(
        lambda: _settled_with_new_pods(cluster, namespace, supervisor, before, restarted),
        RESTART_TIMEOUT,
        f"{supervisor} to restart exactly {sorted(restarted)} after {killed}'s pod was killed",
    )
    status = get_json(cluster, "agentsupervisor", supervisor, "-n", namespace)["status"]
    # Only the child that exited counts as restarted; its siblings were stopped and started by the strategy.
    restarts = {child["name"]: child["restarts"] for child in status["children"] if child["name"] in children}
    assert restarts == {child: int(child == killed) for child in children}


def test_printer_columns_show_strategy_readiness_and_restarts(cluster: KindCluster, namespace: str) -> None:
    _start(cluster, namespace, "one-for-all-team.yaml", "team", ["planner", "researcher", "writer"])

    table = cluster.kubectl("get", "agentsupervisors", "-n", namespace, "--no-headers=false")
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "STRATEGY", "READY", "RESTARTS", "PHASE", "AGE"]
    assert row.split()[:5] == ["team", "one_for_all", "3/3", "0/3", "Running"]

    agents = cluster.kubectl("get", "ag", "-n", namespace)
    header = agents.splitlines()[0]
    assert header.split() == ["NAME", "PHASE", "RESTARTS", "SUPERVISOR", "MODEL", "LAST", "EXIT", "AGE"]
    rows = {line.split()[0]: line.split() for line in agents.splitlines()[1:]}
    assert set(rows) == {"team-planner", "team-researcher", "team-writer"}
    assert all(cells[1:5] == ["Running", "0", "team", "scripted"] for cells in rows.values())


def test_the_standalone_agent_runs_its_task_to_completion(cluster: KindCluster, namespace: str) -> None:
    apply_example(cluster, namespace, EXAMPLES / "standalone-agent.yaml")

    wait_for(
        lambda: phase(cluster, "agent", namespace, "summarizer") == "Succeeded",
        START_TIMEOUT,
        "Agent summarizer to succeed",
    )
