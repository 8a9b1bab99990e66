"""Operator benchmark (`make bench`): prints a table; asserts correctness only, never timing.

The real operator runs as a subprocess (`python -m agent_supervisor.controller.main`) against a LocalCluster
whose process kubelet is paused before any pod exists. Agent pods are driven by a *simulated kubelet* instead:
a coroutine on its own loop thread that watches the namespace's pods and PATCHes `pods/status` to mark each
new pod Running + Ready, deletes pods whose deletion was requested (as a kubelet does once the container has
stopped), and on demand marks a pod Failed with an exit code. No agent process runs, so the figures measure
the operator (and the API server it talks to), not processes; 1,000 real agent processes do not fit here.
Pods get no `podIP`, so the operator does not try to deliver config to them over HTTP.

- reaction latency, p50 / p99, with 1, 100 and 1,000 standalone Agents present (a standalone Agent is a
  one_for_one supervisor of its one pod): from the moment the Failed status write is sent to the moment the
  replacement pod's ADDED watch event arrives here, and the operator's own `agent_supervisor_reaction_seconds`
  histogram over the same restarts (its p50 / p99 interpolated within buckets, as Prometheus does);
- API writes per one_for_one restart, by verb and resource, from the operator's request counter;
- operator RSS with 1,000 Agents, and its CPU use over 10 idle seconds;
- one_for_all with brutal kill: from one agent's crash to all replacements Running + Ready, for 16 agents
  under one supervisor, for 50 agents as a one_for_all root of one_for_all groups of 16 with intensity 0
  (a crash anywhere restarts all 50), and for 256 agents under one supervisor (a pool of 256, the most
  children a supervisor may have), with the operator's RSS after it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, TypeVar

import aiohttp
import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.reporting import ResultTable, p50_p99, print_when_done
from localcluster.cluster import LocalCluster, LocalClusterThread
from localcluster.loopthread import LoopThread
from tests.operator_e2e.harness import GROUP_PATH, REPO, TOOLS_BIN, Operator

NAMESPACE: Final = "bench-operator"
SCALES: Final = (1, 100, 1000)
LARGE_SCALE: Final = int(os.environ.get("BENCH_LARGE_SCALE", "10000"))
"""The scale of the last measurement (operator RSS); BENCH_LARGE_SCALE=0 skips it (it takes ~10 minutes)."""
SAMPLES: Final = {1: 30, 100: 50, 1000: 50}
WRITES_SCALE: Final = 100
"""The scale at which the API writes per restart are counted."""
FINISHED_POD_TTL: Final = 60.0
"""The operator's default --finished-pod-ttl: replaced pods are deleted in batches 60-90 s after."""
CREATORS: Final = 8  # concurrent Agent creations while scaling up
SCALE_UP_SECONDS: Final = 150.0
GROUP_SIZE: Final = 50
SMALL_GROUP: Final = 16
"""The flat group and the nested groups: 16 was the CRD's maxItems of spec.children before pools."""
WIDE: Final = 256
"""The most children one supervisor may have (api.MAX_CHILDREN), as one pool."""
IDLE_SECONDS: Final = 10.0
MIB: Final = 1024 * 1024
REACTION: Final = "agent_supervisor_reaction_seconds"
REQUESTS: Final = "agent_supervisor_api_requests_total"
WRITE_VERBS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AGENT_LABEL: Final = "otp.agents.dev/agent"
RESULTS = ResultTable(third_column="samples", value_width=22)
record = RESULTS.record
T = TypeVar("T")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----- the operator's /metrics ------------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(operator: Operator) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def resync_cost(operator: Operator) -> str:
    """Mean duration of the operator's periodic resyncs so far (they run every 60 s)."""
    samples = scrape(operator)
    count = samples.get(("agent_supervisor_resync_seconds_count", frozenset()), 0.0)
    total = samples.get(("agent_supervisor_resync_seconds_sum", frozenset()), 0.0)
    return "none yet" if not count else f"{total / count * 1000:.0f} ms"


def writes_by_resource(before: Samples, after: Samples) -> dict[str, float]:
    """Deltas of the operator's API writes as "VERB resource", Lease renewals left out."""
    deltas: dict[str, float] = {}
    for (name, labels), value in after.items():
        label = dict(labels)
        if name != REQUESTS or label["verb"] not in WRITE_VERBS or label["resource"] == "leases":
            continue
        delta = value - before.get((name, labels), 0.0)
        if delta:
            deltas[f"{label['verb']} {label['resource']}"] = delta
    return deltas


def histogram_quantile(quantile: float, before: Samples, after: Samples) -> float:
    """`histogram_quantile` of the reaction histogram's growth between two scrapes (linear in a bucket)."""
    # Hand-written: prometheus_client parses the exposition format but computes no quantiles.
    buckets = sorted(
        (float(dict(labels)["le"]), value - before.get((name, labels), 0.0))
        for (name, labels), value in after.items()
        if name == f"{REACTION}_bucket"
    )
    total = buckets[-1][1]
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in buckets:
        if count >= rank:
            if upper_bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0.0
            return lower_bound + (upper_bound - lower_bound) * share
        lower_bound, lower_count = upper_bound, count
    return lower_bound


# ----- the simulated kubelet --------------------------------------------------------------------------------


class SimulatedKubelet:
    """Plays the kubelet for the benchmark's pods through the API only: no process is started.

    Runs on its own loop thread; the tests call its coroutines through `run`.
    """

    def __init__(self, cluster: LocalClusterThread) -> None:
        self.url = cluster.url
        self.token = cluster.cluster.token
        self.thread = LoopThread("simulated-kubelet")
        self.added_at: dict[str, float] = {}
        self.ready_at: dict[str, float] = {}
        self.pods_of: defaultdict[str, list[str]] = defaultdict(list)
        self.deleted: set[str] = set()
        self.container_of: dict[str, str] = {}
        self._handled: set[tuple[str, str]] = set()
        self._changed: asyncio.Condition | None = None
        self._session: aiohttp.ClientSession | None = None
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> SimulatedKubelet:
        self.thread.start_loop()
        self.run(self._start())
        return self

    def stop(self) -> None:
        self.thread.stop_loop(self._stop, timeout=30)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return self.thread.run(coroutine, timeout=timeout)

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            connector=aiohttp.TCPConnector(limit=64),
        )
        listing = await self.call("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")
        self._watch = asyncio.create_task(self._follow(listing["metadata"]["resourceVersion"]))

    async def _stop(self) -> None:
        for task in [self._watch, *self._tasks]:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        merge: bool = False,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        """A JSON call; any answer but 2xx (or 404 when `missing_ok`) fails with the server's message."""
        assert self._session is not None
        headers = {"Content-Type": "application/merge-patch+json"} if merge else None
        data = None if body is None else json.dumps(body)
        async with self._session.request(method, self.url + path, data=data, headers=headers) as response:
            if response.status >= 300 and not (missing_ok and response.status == 404):
                raise AssertionError(f"{method} {path}: {response.status} {await response.text()}")
            answer: dict[str, Any] = await response.json()
            return answer

    async def _follow(self, resource_version: str) -> None:
        """Watches the namespace's pods, resuming from the last version seen if the stream ends."""
        assert self._session is not None
        assert self._changed is not None
        path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        try:
            while True:
                url = f"{self.url}{path}?watch=true&resourceVersion={resource_version}"
                async with self._session.get(url) as response:
                    async for line in response.content:
                        arrived = time.perf_counter()
                        event = json.loads(line)
                        pod = event["object"]
                        if event["type"] == "ERROR":
                            raise AssertionError(f"the simulated kubelet's pod watch failed: {pod}")
                        resource_version = pod["metadata"]["resourceVersion"]
                        await self._on_event(event["type"], pod, arrived)
        finally:
            # Wakes the waiters in `until`, which then report why the watch ended.
            async with self._changed:
                self._changed.notify_all()

    async def _on_event(self, kind: str, pod: dict[str, Any], arrived: float) -> None:
        assert self._changed is not None
        metadata = pod["metadata"]
        name = metadata["name"]
        if kind == "ADDED":
            self.added_at[name] = arrived
            self.container_of[name] = pod["spec"]["containers"][0]["name"]
            self.pods_of[metadata["labels"][AGENT_LABEL]].append(name)
        if kind == "DELETED":
            self.deleted.add(name)
        else:
            if metadata.get("deletionTimestamp"):
                self._spawn(("delete", name), lambda: self._delete(name))
            elif (pod.get("status") or {}).get("phase") not in ("Running", "Failed", "Succeeded"):
                self._spawn(("start", name), lambda: self._start_pod(pod))
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, key: tuple[str, str], work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Handles each pod's start and deletion once, off the watch loop so that events keep flowing."""
        if key in self._handled:
            return
        self._handled.add(key)
        task = asyncio.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_pod(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        started = now()
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": started}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        status = {
            "phase": "Running",
            "startTime": started,
            "conditions": conditions,
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }
            ],
        }
        path = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status"
        # missing_ok: the operator may delete a pod (a group restart) before it was marked Running.
        await self.call("PATCH", path, {"status": status}, merge=True, missing_ok=True)
        self.ready_at[name] = time.perf_counter()
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _delete(self, name: str) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}?gracePeriodSeconds=0"
        await self.call("DELETE", path, missing_ok=True)

    async def fail(self, pod: str, code: int = 1) -> float:
        """Marks the pod's container terminated with `code`; returns when the status write was sent."""
        ended = now()
        status = {
            "phase": "Failed",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": ended}],
            "containerStatuses": [
                {
                    "name": self.container_of[pod],
                    "image": "",
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": code, "reason": "Error", "finishedAt": ended}},
                }
            ],
        }
        sent = time.perf_counter()
        await self.call(
            "PATCH", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/status", {"status": status}, merge=True
        )
        return sent

    async def until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        assert self._changed is not None and self._watch is not None
        watch = self._watch
        try:
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait_for(lambda: watch.done() or condition())
        except TimeoutError:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}") from None
        if watch.done():
            watch.result()  # raises what ended the watch: nothing would mark pods any more
            raise AssertionError("the simulated kubelet's pod watch ended")

    def has_pods_beyond(self, agent: str, known: int) -> bool:
        return len(self.pods_of[agent]) > known

    def replaced_pods_deleted(self) -> bool:
        """Every pod but each agent's newest is gone (the operator deletes replaced pods after a TTL)."""
        return all(pod in self.deleted for pods in self.pods_of.values() for pod in pods[:-1])

    def is_ready(self, pod: str) -> bool:
        return pod in self.ready_at

    def ready_pods(self, agents: Sequence[str]) -> int:
        return sum(1 for agent in agents if self.pods_of[agent] and self.pods_of[agent][-1] in self.ready_at)


# ----- fixtures ---------------------------------------------------------------------------------------------


def freeze_benchmark_heap() -> None:
    """Leave what this process holds now out of its later garbage collections.

    This process hosts the emulated API server (its store and watch history) and the simulated kubelet. With
    hundreds of thousands of objects, a full collection here stalls the API server for up to 0.6 s (measured
    with a gc.callbacks probe: docs/benchmarks.md), and the operator would see that as a slow API call in the
    middle of a reaction. A real kube-apiserver has no such pauses; the operator's own are part of the figure.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module", autouse=True)
def unfreeze_at_the_end() -> Iterator[None]:
    yield
    gc.unfreeze()  # the other benchmark modules run in this process too


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield from print_when_done(
        RESULTS,
        "operator benchmark (real operator process; simulated kubelet: pods are status writes only)",
        "latencies are given as p50 / p99",
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClusterThread]:
    with LocalCluster.in_thread(tmp_path_factory.mktemp("bench-operator") / "state") as running:
        running.pause_kubelet()
        running.install_crds([REPO / "crds"])
        yield running


@pytest.fixture(scope="module")
def kubelet(cluster: LocalClusterThread) -> Iterator[SimulatedKubelet]:
    response = httpx.post(f"{cluster.url}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
    assert response.status_code == 201, response.text
    simulated = SimulatedKubelet(cluster).start()
    yield simulated
    simulated.stop()


@pytest.fixture(scope="module")
def operator(
    cluster: LocalClusterThread, kubelet: SimulatedKubelet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(cluster.kubeconfig_path)
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    # The simulated kubelet runs no process, so no pod supervisor: every incarnation is a pod.
    running = Operator(env, NAMESPACE, "bench", log, ["--no-in-place-restarts"]).start()
    yield running
    running.kill()


# ----- reaction latency at 1, 100 and 1,000 agents ----------------------------------------------------------


TEMPLATE: Final = {
    "model": {"endpoint": "http://127.0.0.1:9/v1", "name": "scripted"},
    "systemPrompt": "You are a benchmark agent.",
}


def agent(name: str) -> dict[str, Any]:
    # A generous intensity so that repeated crashes of the one agent at scale 1 never exhaust it. A long
    # window: with a short one, restarts ageing out of it change the status on any later reconcile, and
    # those refreshes would be counted as writes of the restarts.
    spec = {
        **TEMPLATE,
        "maxRestarts": 1000,
        "periodSeconds": 3600,
        "shutdown": {"brutalKill": True},
    }
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": spec,
    }


def agent_names(count: int) -> list[str]:
    return [f"agent-{index:05d}" for index in range(count)]


async def create_agents(kubelet: SimulatedKubelet, names: Sequence[str]) -> None:
    pending = iter(names)
    path = f"{GROUP_PATH}/namespaces/{NAMESPACE}/agents"

    async def creator() -> None:
        for name in pending:
            await kubelet.call("POST", path, agent(name))

    await asyncio.gather(*(creator() for _ in range(CREATORS)))


async def agent_settled(kubelet: SimulatedKubelet, name: str, pod: str, seconds: float = 30) -> None:
    """Until the Agent's status shows `pod` Running: the operator has finished with the restart."""
    deadline = time.monotonic() + seconds
    while True:
        status = (await kubelet.call("GET", f"{GROUP_PATH}/namespaces/{NAMESPACE}/agents/{name}")).get(
            "status"
        ) or {}
        if status.get("podName") == pod and status.get("phase") == "Running":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"agent {name} never reported pod {pod} Running: {status}")
        await asyncio.sleep(0.01)  # polling the status; no event tells us the operator is done


async def reactions(kubelet: SimulatedKubelet, names: Sequence[str], samples: int) -> list[float]:
    """Crashes `samples` agents one at a time: Failed status write sent -> replacement pod ADDED."""
    chosen = random.Random(len(names)).choices(names, k=samples)
    latencies = []
    for name in chosen:
        known = len(kubelet.pods_of[name])
        sent = await kubelet.fail(kubelet.pods_of[name][-1])
        await kubelet.until(partial(kubelet.has_pods_beyond, name, known), 10, f"{name}'s replacement")
        replacement = kubelet.pods_of[name][-1]
        latencies.append(kubelet.added_at[replacement] - sent)
        await kubelet.until(partial(kubelet.is_ready, replacement), 10, f"{replacement} Ready")
        await agent_settled(kubelet, name, replacement)
    return latencies


async def replaced_pods_deleted(kubelet: SimulatedKubelet) -> None:
    await kubelet.until(
        kubelet.replaced_pods_deleted,
        FINISHED_POD_TTL * 1.5 + 30,
        "the replaced pods deleted after their TTL",
    )


@pytest.fixture(scope="module")
def scaled() -> dict[int, float]:
    """Seconds each scale-up took, filled by the reaction test."""
    return {}


@pytest.mark.timeout(600)  # at WRITES_SCALE it waits twice for the replaced pods' batches (TTL 60 s)
@pytest.mark.parametrize("count", SCALES)
def test_reaction_latency(
    kubelet: SimulatedKubelet, operator: Operator, scaled: dict[int, float], count: int
) -> None:
    names = agent_names(count)
    new = [name for name in names if name not in kubelet.pods_of]
    started = time.perf_counter()
    kubelet.run(create_agents(kubelet, new))
    kubelet.run(
        kubelet.until(
            lambda: kubelet.ready_pods(names) == count, SCALE_UP_SECONDS, f"{count} agents' pods Ready"
        )
    )
    kubelet.run(agent_settled(kubelet, names[-1], kubelet.pods_of[names[-1]][-1]))
    scaled[count] = time.perf_counter() - started
    record(f"scale up to {count:,} standalone Agents (pods Ready)", f"{scaled[count]:.1f} s", f"+{len(new)}")
    assert operator.process is not None
    rss = psutil.Process(operator.process.pid).memory_info().rss / MIB
    record(f"  operator RSS with {count:,} agents", f"{rss:.0f} MiB")

    if count == WRITES_SCALE:
        # The replaced pods of the earlier step are deleted first: their batches are not this step's writes.
        kubelet.run(replaced_pods_deleted(kubelet))
    freeze_benchmark_heap()
    before = scrape(operator)
    latencies = kubelet.run(reactions(kubelet, names, SAMPLES[count]))
    if count == WRITES_SCALE:
        # The deletion of the crashed pods is part of what the restarts cost: wait for their batches.
        kubelet.run(replaced_pods_deleted(kubelet))
    after = scrape(operator)

    restarts = SAMPLES[count]
    assert after[(f"{REACTION}_count", frozenset())] - before[(f"{REACTION}_count", frozenset())] == restarts
    record(
        f"reaction at {count:,} agents: status write -> pod ADDED", p50_p99(latencies), f"{restarts} crashes"
    )
    ops = [histogram_quantile(q, before, after) * 1000 for q in (0.5, 0.99)]
    record(
        f"reaction at {count:,} agents: operator histogram", f"{ops[0]:.1f} / {ops[1]:.1f} ms", "interpolated"
    )
    if count == WRITES_SCALE:
        writes = writes_by_resource(before, after)
        per_restart = sum(writes.values()) / restarts
        detail = ", ".join(f"{key} {value / restarts:.2f}" for key, value in sorted(writes.items()))
        record("API writes per one_for_one restart (standalone)", f"{per_restart:.2f}", detail)
        assert per_restart >= 1  # at least the replacement pod's creation


def idle_cpu(process: psutil.Process) -> str:
    """The process's user + system CPU over IDLE_SECONDS in which nothing happens."""
    before = process.cpu_times()
    time.sleep(IDLE_SECONDS)  # the measurement window itself: nothing is awaited, the operator idles
    after = process.cpu_times()
    busy = (after.user - before.user) + (after.system - before.system)
    return f"{busy / IDLE_SECONDS * 100:.1f} % of a core"


def test_rss_and_idle_cpu_at_1000(kubelet: SimulatedKubelet, operator: Operator) -> None:
    names = agent_names(max(SCALES))
    assert kubelet.ready_pods(names) == len(names), "test_reaction_latency[1000] must run first"
    assert operator.process is not None
    process = psutil.Process(operator.process.pid)
    record(
        f"operator RSS with {len(names):,} agents, after the crashes",
        f"{process.memory_info().rss / MIB:.0f} MiB",
    )
    record(f"operator idle CPU over {IDLE_SECONDS:.0f} s", idle_cpu(process))
    record("  one resync (LISTs every 60 s), mean", resync_cost(operator))


# ----- one_for_all of 50 ---------------------------------------------------------------------------------

Manifest = dict[str, Any]


def agent_children(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}{index:02d}", "shutdown": {"brutalKill": True}, "agent": TEMPLATE}
        for index in range(count)
    ]


def supervisor(name: str, children: list[dict[str, Any]]) -> Manifest:
    spec = {"strategy": "one_for_all", "maxRestarts": 10, "periodSeconds": 60, "children": children}
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "AgentSupervisor",
        "metadata": {"name": name},
        "spec": spec,
    }


def flat_group(name: str) -> tuple[Manifest, list[str], int]:
    """one_for_all of SMALL_GROUP agents under one supervisor."""
    return (
        supervisor(name, agent_children("c", SMALL_GROUP)),
        [f"{name}-c{i:02d}" for i in range(SMALL_GROUP)],
        SMALL_GROUP,
    )


def wide_group(name: str) -> tuple[Manifest, list[str], int]:
    """one_for_all of WIDE agents under one supervisor: one pool, whose members are its children."""
    pool = {"name": "w", "shutdown": {"brutalKill": True}, "pool": {"replicas": WIDE, "template": TEMPLATE}}
    return supervisor(name, [pool]), [f"{name}-w-{i}" for i in range(WIDE)], WIDE


def nested_group(name: str) -> tuple[Manifest, list[str], int]:
    """GROUP_SIZE agents that all restart when any one crashes, in groups of SMALL_GROUP: a one_for_all root
    of one_for_all supervisors with intensity 0, so that a crash makes the agent's own supervisor exceed its
    intensity and exit, and the root then restarts every subtree."""
    sizes = [min(SMALL_GROUP, GROUP_SIZE - start) for start in range(0, GROUP_SIZE, SMALL_GROUP)]
    children = [
        {
            "name": f"g{group}",
            "shutdown": {"brutalKill": True},
            "supervisor": {
                "strategy": "one_for_all",
                "maxRestarts": 0,
                "children": agent_children("c", size),
            },
        }
        for group, size in enumerate(sizes)
    ]
    members = [f"{name}-g{group}-c{i:02d}" for group, size in enumerate(sizes) for i in range(size)]
    return supervisor(name, children), members, len(children)


async def one_for_all_restart(
    kubelet: SimulatedKubelet, manifest: Manifest, members: list[str], children: int
) -> tuple[float, float]:
    """Crashes one agent of a running group: seconds until every member's replacement is Ready, and until the
    root supervisor's status reports it Running with its `children` Ready."""
    name = manifest["metadata"]["name"]
    # Starts and stops are sequential: allow a second per member for each of start-up, stops and starts.
    patience = max(120.0, 3.0 * len(members))
    await kubelet.call("POST", f"{GROUP_PATH}/namespaces/{NAMESPACE}/agentsupervisors", manifest)
    await kubelet.until(
        lambda: kubelet.ready_pods(members) == len(members), patience, f"{name}'s {len(members)} pods Ready"
    )
    await supervisor_running(kubelet, name, children)
    first = {member: kubelet.pods_of[member][-1] for member in members}
    sent = await kubelet.fail(first[members[len(members) // 2]])

    def all_replaced() -> bool:
        return all(
            kubelet.pods_of[m][-1] != first[m] and kubelet.is_ready(kubelet.pods_of[m][-1]) for m in members
        )

    await kubelet.until(all_replaced, patience, f"all {len(members)} agents of {name} replaced and Ready")
    pods_ready = max(kubelet.ready_at[kubelet.pods_of[m][-1]] for m in members) - sent
    await supervisor_running(kubelet, name, children)
    assert all(len(kubelet.pods_of[m]) == 2 for m in members), "every member restarted exactly once"
    return pods_ready, time.perf_counter() - sent


async def supervisor_running(kubelet: SimulatedKubelet, name: str, children: int) -> None:
    deadline = time.monotonic() + 60
    wanted = f"{children}/{children}"
    while True:
        obj = await kubelet.call("GET", f"{GROUP_PATH}/namespaces/{NAMESPACE}/agentsupervisors/{name}")
        status = obj.get("status") or {}
        if status.get("phase") == "Running" and status.get("readyChildren") == wanted:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"supervisor {name} never Running with {wanted} ready: {status}")
        await asyncio.sleep(0.02)  # polling the status; no event tells us the operator has written it


SHAPES: Final = {
    "flat": (flat_group, "one supervisor"),
    "nested": (nested_group, "one_for_all root of intensity-0 one_for_all groups"),
    "wide": (wide_group, f"one supervisor, a pool of {WIDE}"),
}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_one_for_all(kubelet: SimulatedKubelet, operator: Operator, shape: str) -> None:
    build, how = SHAPES[shape]
    manifest, members, children = build(shape)
    freeze_benchmark_heap()
    pods_ready, reported = kubelet.run(
        one_for_all_restart(kubelet, manifest, members, children), timeout=3.0 * len(members) + 300
    )
    record(
        f"one_for_all of {len(members)} (brutal kill): crash -> all pods Ready",
        f"{pods_ready * 1000:.0f} ms",
        how,
    )
    record("  crash -> root status Running, all children Ready", f"{reported * 1000:.0f} ms")
    if shape == "wide":
        assert operator.process is not None
        rss = psutil.Process(operator.process.pid).memory_info().rss / MIB
        record("  operator RSS after it", f"{rss:.0f} MiB", "with every earlier step's resources")


# ----- the large scale: operator RSS -----------------------------------------------------------------------


def all_ready(kubelet: SimulatedKubelet, names: Sequence[str]) -> bool:
    return kubelet.ready_pods(names) == len(names)


@pytest.mark.skipif(max(SCALES) >= LARGE_SCALE, reason="BENCH_LARGE_SCALE is not above the reaction scales")
@pytest.mark.timeout(3600)
def test_rss_at_large_scale(kubelet: SimulatedKubelet, operator: Operator) -> None:
    """Last, as it leaves the cluster with LARGE_SCALE agents: the operator's RSS and CPU as it grows."""
    assert operator.process is not None
    process = psutil.Process(operator.process.pid)
    have = sum(1 for name in agent_names(max(SCALES)) if kubelet.pods_of[name])
    started = time.perf_counter()
    for count in sorted({LARGE_SCALE // 2, LARGE_SCALE}):
        names = agent_names(count)
        new = [name for name in names if not kubelet.pods_of[name]]
        kubelet.run(create_agents(kubelet, new), timeout=3600)
        kubelet.run(
            kubelet.until(partial(all_ready, kubelet, names), 3600, f"{count} agents' pods Ready"),
            timeout=3600,
        )
        # The simulated kubelet marks pods Ready faster than the operator reports them: wait for its backlog.
        kubelet.run(agent_settled(kubelet, names[-1], kubelet.pods_of[names[-1]][-1], seconds=1800), 1800)
        record(
            f"operator RSS with {count:,} agents",
            f"{process.memory_info().rss / MIB:.0f} MiB",
            f"{time.perf_counter() - started:.0f} s from {have:,}",
        )
    record(f"operator idle CPU with {LARGE_SCALE:,} agents over {IDLE_SECONDS:.0f} s", idle_cpu(process))
    record("  one resync (LISTs every 60 s), mean", resync_cost(operator))
