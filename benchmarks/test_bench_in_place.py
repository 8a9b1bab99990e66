"""Group restarts with real agent processes (`make bench`): in place vs. a new pod per incarnation.

The real operator and real agent processes on the local cluster's process kubelet. Every scenario runs
twice, side by side: with `--in-place-restarts` (a restart is a new process in the pod of the previous
incarnation) and with `--no-in-place-restarts` (every incarnation a new pod). A crash is the agent process
dying: with in place the incarnation's process is killed (its pod supervisor lives on), without it the
container's. Timed from the
kill until the supervisor's status says every child runs a new, Ready incarnation. Prints a table; asserts
correctness only, never timing.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from benchmarks.reporting import ResultTable, machine_load, p50_p99
from localcluster.cluster import LocalCluster, LocalClusterThread
from tests.operator_e2e.harness import REPO, TOOLS_BIN, Api, Env, agent_child, supervisor
from tests.operator_e2e.pod_supervisors import IncarnationRecorder, kill_incarnation
from tests.polling import poll_until

# Starting 50 real agents one after the other takes minutes: far past pytest's default 120 s per test.
pytestmark = pytest.mark.timeout(1200)

PATHS: Final = {"in place": "--in-place-restarts", "new pods": "--no-in-place-restarts"}
SUSTAINED_SECONDS: Final = 15.0
RESULTS = ResultTable(third_column="in place / new pods", value_width=30)
ROWS: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    before = machine_load()
    yield
    for metric, by_path in ROWS.items():
        RESULTS.record(metric, by_path.get("in place", "-"), by_path.get("new pods", "-"))
    print(
        RESULTS.render(
            "in-place restarts benchmark (real operator, real agent processes on the local cluster)",
            f"at start: {before}; at end: {machine_load()}",
            "value: in place; third column: new pods (the pod-recreating path, same run)",
        )
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClusterThread]:
    with LocalCluster.in_thread(tmp_path_factory.mktemp("bench-in-place") / "state") as running:
        running.install_crds([REPO / "crds"])
        yield running


def record(metric: str, path: str, value: str) -> None:
    ROWS.setdefault(metric, {})[path] = value


@dataclass
class Bench:
    env: Env
    path: str
    """A key of PATHS."""


@pytest.fixture(params=list(PATHS), scope="module")
def bench(
    request: pytest.FixtureRequest, cluster: LocalClusterThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bench]:
    """One namespace and one operator per path, for the whole module."""
    api = Api(cluster.url)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    assert api.create("namespaces", None, {"metadata": {"name": namespace}}).status_code == 201
    tool_env = dict(os.environ)
    tool_env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{tool_env.get('PATH', '')}"
    tool_env["KUBECONFIG"] = str(cluster.kubeconfig_path)
    env = Env(
        cluster, api, namespace, tool_env, tmp_path_factory.mktemp("bench-env"), "http://127.0.0.1:9/v1"
    )
    env.operator("bench", PATHS[request.param])
    yield Bench(env, request.param)
    for op in env.operators:
        op.kill(signal.SIGTERM)
    api.delete("namespaces", None, namespace)
    api.http.close()


def children_of(supervisor: dict[str, Any] | None) -> list[dict[str, Any]]:
    status = (supervisor or {}).get("status") or {}
    return list(((status.get("supervision") or {}).get("state") or {}).get("children") or [])


def states(env: Env, name: str) -> list[dict[str, Any]]:
    return children_of(env.api.get("agentsupervisors", env.namespace, name))


def running_past(children: list[dict[str, Any]], attempts: dict[str, int], restarted: set[str]) -> bool:
    return len(children) == len(attempts) and all(
        child["lifecycle"] == "running"
        and (child["attempt"] > attempts[child["name"]] if child["name"] in restarted else True)
        for child in children
    )


def all_running_past(env: Env, name: str, attempts: dict[str, int], restarted: set[str]) -> bool:
    return running_past(states(env, name), attempts, restarted)


def watch_until(
    env: Env, name: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str
) -> list[dict[str, Any]]:
    """The supervisor's children once `done` holds of them, seen on a watch of the supervisor: the timed
    waits must not load the API server they measure (polling its 40 KB status every 10 ms did)."""
    path = env.api.path("agentsupervisors", env.namespace)
    current = env.api.get("agentsupervisors", env.namespace, name) or {}
    if done(children_of(current)):
        return children_of(current)
    deadline = time.monotonic() + timeout
    params = {
        "watch": "true",
        "fieldSelector": f"metadata.name={name}",
        "resourceVersion": current["metadata"]["resourceVersion"],
    }
    with env.api.http.stream("GET", path, params=params, timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line:
                children = children_of(json.loads(line).get("object"))
                if done(children):
                    return children
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start(env: Env, name: str, strategy: str, size: int, **spec: Any) -> dict[str, int]:
    children = [agent_child(f"c{i}") for i in range(size)]
    env.api.create("agentsupervisors", env.namespace, supervisor(name, children, strategy=strategy, **spec))
    poll_until(
        lambda: all_running_past(env, name, {f"c{i}": 0 for i in range(size)}, set()), 300, f"{name} up"
    )
    return {child["name"]: child["attempt"] for child in states(env, name)}


def crash(bench: Bench, child: str) -> None:
    """The agent process of `child` dies (SIGKILL): the incarnation's process in place, else the container."""
    env = bench.env
    pod = next(
        name
        for name, body in env.pods().items()
        if (body["metadata"].get("labels") or {}).get("otp.agents.dev/child") == child
        and body["status"].get("phase") == "Running"
        and not body["metadata"].get("deletionTimestamp")
    )
    if bench.path == "in place":
        kill_incarnation(env, pod)
    else:
        env.kill_pod(pod)


@pytest.mark.parametrize(
    ("strategy", "size", "crashed"),
    [("one_for_all", 16, 8), ("one_for_all", 50, 25), ("rest_for_one", 50, 0)],
)
def test_group_restart(bench: Bench, strategy: str, size: int, crashed: int) -> None:
    env, name = bench.env, f"g{size}-{strategy.replace('_', '')}"
    attempts = start(env, name, strategy, size, maxRestarts=1000, periodSeconds=1)
    restarted = set(attempts) if strategy == "one_for_all" else {f"c{i}" for i in range(crashed, size)}
    began = time.perf_counter()
    crash(bench, f"c{crashed}")
    watch_until(env, name, lambda c: running_past(c, attempts, restarted), 300, f"{name} restarted")
    took = time.perf_counter() - began
    record(f"{strategy} of {size}, crash c{crashed} -> all Ready", bench.path, f"{took * 1000:.0f} ms")
    env.api.delete("agentsupervisors", env.namespace, name)


def restart_one(bench: Bench, attempts: dict[str, int], child: str) -> dict[str, int]:
    crash(bench, child)
    done = watch_until(bench.env, "steady", lambda c: running_past(c, attempts, {child}), 60, f"{child} back")
    return {c["name"]: c["attempt"] for c in done}


def test_incarnation_start_and_sustained_restarts(bench: Bench) -> None:
    """one_for_one of 8: crash a child as soon as the previous restart is Ready, for SUSTAINED_SECONDS."""
    env, size = bench.env, 8
    attempts = start(env, "steady", "one_for_one", size, maxRestarts=1000, periodSeconds=1)
    in_place = bench.path == "in place"
    recorder = IncarnationRecorder(env, sorted(env.running_pods())).start() if in_place else None
    restarts = 0
    began = time.perf_counter()
    while time.perf_counter() - began < SUSTAINED_SECONDS:
        attempts = restart_one(bench, attempts, f"c{restarts % size}")
        restarts += 1
    rate = f"{restarts / (time.perf_counter() - began):.1f}/s ({restarts})"
    record("one_for_one restarts per second, sustained", bench.path, rate)
    if recorder is not None:
        recorder.stop()
        starts: dict[tuple[str, int], float] = {}
        durations = []
        for seen in list(recorder.seen):
            if seen.phase == "Starting":
                starts[(seen.pod, seen.attempt)] = seen.at
            elif seen.phase == "Ready" and (seen.pod, seen.attempt) in starts:
                durations.append(seen.at - starts[(seen.pod, seen.attempt)])
        record("incarnation Starting -> Ready (warm pod), p50 / p99", bench.path, p50_p99(durations))
    env.api.delete("agentsupervisors", env.namespace, "steady")
