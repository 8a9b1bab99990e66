"""Hot reload benchmark (`make bench`): prints a table; asserts correctness only, never timing.

From the PATCH of a hot field (the system prompt) to the moment the Agent's status says the running agent
applied the new config: condition ConfigApplied True and `appliedConfigRevision == configRevision`, a
revision not seen before. Real agent processes (the local cluster's process kubelet runs the agent runtime)
and the real operator; issue 4's goal is 1 s. Two paths: an edit of a supervisor's child template
(supervisor reconcile -> child Agent applied -> Agent reconcile -> ConfigMap and reload call) and an edit of
a standalone Agent. Every edit must be applied without a new pod.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final

import pytest

from benchmarks.reporting import ResultTable, p50_p99, print_when_done
from localcluster.cluster import LocalCluster, LocalClusterThread
from tests.operator_e2e.harness import (
    REPO,
    TOOLS_BIN,
    Api,
    Operator,
    agent_child,
    agent_template,
    applied_revision,
    supervisor,
)
from tests.polling import poll_until

EDITS: Final = 20
POLL_SECONDS: Final = 0.01
"""The status is polled: no watch event says "applied" sooner than the status write that records it."""
RESULTS = ResultTable(third_column="samples", value_width=26)


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield from print_when_done(
        RESULTS,
        "hot reload benchmark (real operator, real agent processes on the local cluster)",
        "latencies are given as p50 / p99 (max)",
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClusterThread]:
    with LocalCluster.in_thread(tmp_path_factory.mktemp("bench-reload") / "state") as running:
        running.install_crds([REPO / "crds"])
        yield running


@pytest.fixture(scope="module")
def api(cluster: LocalClusterThread) -> Iterator[Api]:
    client = Api(cluster.url)
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def namespace(api: Api) -> str:
    name = f"bench-reload-{uuid.uuid4().hex[:6]}"
    response = api.create("namespaces", None, {"metadata": {"name": name}})
    assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def operator(
    cluster: LocalClusterThread, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(cluster.kubeconfig_path)
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    running = Operator(env, namespace, "bench", log).start()
    yield running
    running.kill()


def applied(api: Api, namespace: str, agent: str) -> str | None:
    """The revision the agent reports applied, once it is the one the operator rendered."""
    return applied_revision((api.get("agents", namespace, agent) or {}).get("status") or {})


def pod_names(api: Api, namespace: str) -> set[str]:
    return {pod["metadata"]["name"] for pod in api.list("pods", namespace)}


def measure(api: Api, namespace: str, agent: str, edit: Callable[[int], None]) -> list[float]:
    """Seconds from each edit's PATCH to the new revision applied by the running agent."""
    seen = {poll_until(lambda: applied(api, namespace, agent), 60, f"{agent}'s first config applied")}
    pods = pod_names(api, namespace)
    latencies = []
    for number in range(EDITS):
        started = time.perf_counter()
        edit(number)

        def fresh() -> str | None:
            revision = applied(api, namespace, agent)
            return revision if revision is not None and revision not in seen else None

        seen.add(poll_until(fresh, 30, f"edit {number} applied by {agent}", interval=POLL_SECONDS))
        latencies.append(time.perf_counter() - started)
    assert pod_names(api, namespace) == pods, "a hot change must not replace a pod"
    return latencies


def record(what: str, latencies: list[float]) -> None:
    summary = f"{p50_p99(latencies)} ({max(latencies) * 1000:.0f} ms)"
    RESULTS.record(what, summary, f"{len(latencies)} edits")


def running(api: Api, namespace: str, kind: str, name: str) -> bool:
    status = (api.get(kind, namespace, name) or {}).get("status") or {}
    return status.get("phase") == "Running"


def test_edit_of_a_supervisors_child_template(api: Api, namespace: str, operator: Operator) -> None:
    children = [agent_child(name) for name in ("a", "b", "c")]
    api.create("agentsupervisors", namespace, supervisor("team", children))
    poll_until(lambda: running(api, namespace, "agentsupervisors", "team"), 90, "team Running")

    def edit(number: int) -> None:
        changed = [dict(child) for child in children]
        changed[0] = {**changed[0], "agent": {**changed[0]["agent"], "systemPrompt": f"Prompt {number}."}}
        api.patch("agentsupervisors", namespace, "team", {"spec": {"children": changed}})

    record("edit supervisor child template -> ConfigApplied", measure(api, namespace, "team-a", edit))


def test_edit_of_a_standalone_agent(api: Api, namespace: str, operator: Operator) -> None:
    manifest: dict[str, Any] = {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "solo"},
        "spec": agent_template(),
    }
    api.create("agents", namespace, manifest)
    poll_until(lambda: running(api, namespace, "agents", "solo"), 60, "solo Running")

    def edit(number: int) -> None:
        api.patch("agents", namespace, "solo", {"spec": {"systemPrompt": f"Prompt {number}."}})

    record("edit standalone Agent -> ConfigApplied", measure(api, namespace, "solo", edit))
