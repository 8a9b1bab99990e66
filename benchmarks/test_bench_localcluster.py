"""Local cluster benchmark (`make bench`): prints a table; asserts correctness only, never timing.

The cluster (API server + process kubelet) runs as `LocalCluster` on its own event loop in a thread; the
clients are aiohttp sessions on the test's loop, speaking plain HTTP to it as any client would. aiohttp rather
than the `kubernetes` client because the latter's model deserialisation of a 10,000-object list costs seconds
and would measure the client, not the server. Server and clients share one process (and its GIL), so every
latency includes the client's own work; the RSS figures cover both.

- store 10,000 ConfigMaps (about 0.9 KiB each as served, managedFields included, so a full list is about
  9 MiB of JSON) with a few concurrent writers: time, objects/s, RSS;
- list latency over those: everything, a label selector matching 1 %, `limit=500` pages;
- watch latency from a write to its event at each of 50 concurrent watchers;
- pod create -> Running (through the kubelet: a `python -c` process sleeping) and delete -> gone, for 30 pods
  one at a time and for 30 created (then deleted) at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiohttp
import psutil
import pytest

from benchmarks.reporting import ResultTable, p50_p99, print_when_done
from localcluster.cluster import LocalCluster, LocalClusterThread

OBJECTS = 10_000
WRITERS = 8
SHARDS = 100  # the label `shard` takes this many values, so one selector matches OBJECTS / SHARDS objects
PAYLOAD = "x" * 400
FULL_LIST_RUNS = 20
SELECTOR_LIST_RUNS = 100
PAGE_SIZE = 500
PAGED_LIST_RUNS = 10
WATCHERS = 50
WATCHED_WRITES = 200
PODS = 30
SLEEPER = "import time; time.sleep(600)"
MIB = 1024 * 1024
RESULTS = ResultTable(third_column="samples", value_width=20)
record = RESULTS.record


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / MIB


async def within(event: asyncio.Event, seconds: float, what: str) -> None:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}") from None


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield from print_when_done(
        RESULTS,
        "local cluster benchmark (LocalCluster in a thread, aiohttp clients over HTTP, one process)",
        "latencies are given as p50 / p99",
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClusterThread]:
    with LocalCluster.in_thread(tmp_path_factory.mktemp("bench-cluster") / "state") as running:
        yield running
    leftovers = psutil.Process().children(recursive=True)
    assert not leftovers, f"processes left behind by the cluster: {leftovers}"


class Api:
    """The few JSON calls the benchmark makes; an answer other than 2xx fails it with the server's message."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self.session.request(method, self.url + path, json=body) as response:
            if response.status >= 300:
                raise AssertionError(f"{method} {path}: {response.status} {await response.text()}")
            answer: dict[str, Any] = await response.json()
            return answer

    async def create_namespace(self, name: str) -> None:
        await self.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})


@asynccontextmanager
async def client(cluster: LocalClusterThread) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Bearer {cluster.cluster.token}"}
    # Enough connections for every watcher plus the writers at once.
    connector = aiohttp.TCPConnector(limit=WATCHERS + WRITERS + 4)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        yield Api(session, cluster.url)


# ----- 10,000 objects ---------------------------------------------------------------------------------------

STORE_NAMESPACE = "bench-store"


def configmap(index: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"cm-{index:05d}",
            "labels": {"app": "bench", "shard": f"s{index % SHARDS:02d}"},
        },
        "data": {"index": str(index), "payload": PAYLOAD},
    }


async def store_configmaps(cluster: LocalClusterThread) -> float:
    async with client(cluster) as api:
        await api.create_namespace(STORE_NAMESPACE)
        pending = iter(range(OBJECTS))
        path = f"/api/v1/namespaces/{STORE_NAMESPACE}/configmaps"

        async def writer() -> None:
            # Each writer takes the next index until none is left: WRITERS requests in flight at all times.
            for index in pending:
                await api.call("POST", path, configmap(index))

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        return time.perf_counter() - started


@pytest.fixture(scope="module")
def stored(cluster: LocalClusterThread) -> tuple[float, float]:
    """Stores the OBJECTS ConfigMaps the list benchmarks read: (seconds it took, RSS in MiB before)."""
    rss_before = rss_mib()
    return asyncio.run(store_configmaps(cluster)), rss_before


def test_store_10000_configmaps(cluster: LocalClusterThread, stored: tuple[float, float]) -> None:
    seconds, rss_before = stored
    store = cluster.cluster.server.store
    in_store = cluster.call(lambda: sum(1 for _ in store.objects(("", "configmaps"), STORE_NAMESPACE)))
    assert in_store == OBJECTS
    rss_after = rss_mib()
    record(f"store {OBJECTS:,} ConfigMaps ({WRITERS} concurrent writers)", f"{seconds:.2f} s")
    record("  throughput", f"{OBJECTS / seconds:,.0f} objects/s")
    record("  process RSS after storing", f"{rss_after:.0f} MiB")
    record("  RSS growth from storing", f"{rss_after - rss_before:.0f} MiB")


# ----- list latency -----------------------------------------------------------------------------------------


async def timed_lists(api: Api, path: str, runs: int, expected: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await api.call("GET", path)
        samples.append(time.perf_counter() - started)
        assert len(answer["items"]) == expected
    return samples


async def timed_paged_lists(api: Api, path: str, runs: int) -> tuple[list[float], list[float]]:
    """Per-page and whole-walk durations of reading everything `PAGE_SIZE` objects at a time."""
    pages, walks = [], []
    for _ in range(runs):
        names: list[str] = []
        token = ""
        walk_started = time.perf_counter()
        while True:
            started = time.perf_counter()
            answer = await api.call("GET", f"{path}?limit={PAGE_SIZE}&continue={token}")
            pages.append(time.perf_counter() - started)
            names.extend(item["metadata"]["name"] for item in answer["items"])
            token = answer["metadata"].get("continue", "")
            if not token:
                break
        walks.append(time.perf_counter() - walk_started)
        assert names == sorted(names) and len(names) == OBJECTS
    return pages, walks


async def test_list_latency(cluster: LocalClusterThread, stored: tuple[float, float]) -> None:
    path = f"/api/v1/namespaces/{STORE_NAMESPACE}/configmaps"
    async with client(cluster) as api:
        full = await timed_lists(api, path, FULL_LIST_RUNS, OBJECTS)
        selected = await timed_lists(
            api, f"{path}?labelSelector=shard%3Ds07", SELECTOR_LIST_RUNS, OBJECTS // SHARDS
        )
        pages, walks = await timed_paged_lists(api, path, PAGED_LIST_RUNS)
    record(f"list all {OBJECTS:,}", p50_p99(full), f"{len(full)} lists")
    record(f"list, label selector matching {OBJECTS // SHARDS}", p50_p99(selected), f"{len(selected)} lists")
    record(f"list, one page of limit={PAGE_SIZE}", p50_p99(pages), f"{len(pages)} pages")
    record(f"list all {OBJECTS:,} in pages of {PAGE_SIZE}", p50_p99(walks), f"{len(walks)} walks")


# ----- watch latency ----------------------------------------------------------------------------------------

WATCH_NAMESPACE = "bench-watch"


async def watch_latencies(api: Api) -> list[float]:
    """Seconds from the moment a create is sent to the moment each watcher has read its event.

    One write at a time: the next is sent once every watcher has seen the previous one, so the figures are
    the latency of a single change fanned out to all watchers, not of a backlog.
    """
    await api.create_namespace(WATCH_NAMESPACE)
    path = f"/api/v1/namespaces/{WATCH_NAMESPACE}/configmaps"
    start_rv = (await api.call("GET", path))["metadata"]["resourceVersion"]
    names = [f"w-{index:04d}" for index in range(WATCHED_WRITES)]
    sent: dict[str, float] = {}
    seen = dict.fromkeys(names, 0)
    everyone_saw = {name: asyncio.Event() for name in names}
    samples: list[float] = []
    subscribed = asyncio.Barrier(WATCHERS + 1)

    async def watcher() -> None:
        url = f"{api.url}{path}?watch=true&resourceVersion={start_rv}"
        async with api.session.get(url) as response:
            # The server subscribes before it sends the headers: from here on no event can be missed.
            await subscribed.wait()
            async for line in response.content:
                arrived = time.perf_counter()
                name = json.loads(line)["object"]["metadata"]["name"]
                samples.append(arrived - sent[name])
                seen[name] += 1
                if seen[name] == WATCHERS:
                    everyone_saw[name].set()
                if name == names[-1]:
                    return

    watchers = [asyncio.create_task(watcher()) for _ in range(WATCHERS)]
    async with asyncio.timeout(30):
        await subscribed.wait()
    for name in names:
        sent[name] = time.perf_counter()
        await api.call("POST", path, {"metadata": {"name": name}, "data": {"k": "v"}})
        await within(everyone_saw[name], 10, f"all {WATCHERS} watchers to see ConfigMap {name}")
    await asyncio.gather(*watchers)
    return samples


async def test_watch_event_latency(cluster: LocalClusterThread) -> None:
    async with client(cluster) as api:
        samples = await watch_latencies(api)
    assert len(samples) == WATCHERS * WATCHED_WRITES
    record(
        f"watch: write -> event at each of {WATCHERS} watchers", p50_p99(samples), f"{len(samples)} events"
    )


# ----- pods through the kubelet -----------------------------------------------------------------------------


def sleeper(name: str) -> dict[str, Any]:
    container = {"name": "main", "image": "python", "command": ["python", "-c", SLEEPER]}
    return {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [container]}}


class PodWatch:
    """When each pod was first seen Running, and when it was seen deleted, from one watch stream."""

    def __init__(self, names: Sequence[str]) -> None:
        self.running = {name: asyncio.Event() for name in names}
        self.gone = {name: asyncio.Event() for name in names}
        self.running_at: dict[str, float] = {}
        self.gone_at: dict[str, float] = {}

    async def follow(self, api: Api, path: str, start_rv: str) -> None:
        async with api.session.get(f"{api.url}{path}?watch=true&resourceVersion={start_rv}") as response:
            async for line in response.content:
                arrived = time.perf_counter()
                event = json.loads(line)
                pod = event["object"]
                name = pod["metadata"]["name"]
                if event["type"] == "DELETED":
                    self.gone_at[name] = arrived
                    self.gone[name].set()
                elif pod.get("status", {}).get("phase") == "Running" and name not in self.running_at:
                    self.running_at[name] = arrived
                    self.running[name].set()


async def each(step: Callable[[str], Awaitable[float]], names: Sequence[str], at_once: bool) -> list[float]:
    if at_once:
        return list(await asyncio.gather(*(step(name) for name in names)))
    return [await step(name) for name in names]


async def pod_latencies(api: Api, namespace: str, at_once: bool) -> tuple[list[float], list[float]]:
    """Create -> Running and delete -> gone (the DELETED event) of PODS pods, one by one or all at once."""
    await api.create_namespace(namespace)
    path = f"/api/v1/namespaces/{namespace}/pods"
    start_rv = (await api.call("GET", path))["metadata"]["resourceVersion"]
    names = [f"sleeper-{index:02d}" for index in range(PODS)]
    pods = PodWatch(names)

    async def create(name: str) -> float:
        created = time.perf_counter()
        await api.call("POST", path, sleeper(name))
        await within(pods.running[name], 60, f"pod {name} to be Running")
        return pods.running_at[name] - created

    async def delete(name: str) -> float:
        deleted = time.perf_counter()
        await api.call("DELETE", f"{path}/{name}")
        await within(pods.gone[name], 60, f"pod {name} to be deleted")
        return pods.gone_at[name] - deleted

    follower = asyncio.create_task(pods.follow(api, path, start_rv))
    try:
        to_running = await each(create, names, at_once)
        to_gone = await each(delete, names, at_once)
    finally:
        follower.cancel()
        with suppress(asyncio.CancelledError):
            await follower
    return to_running, to_gone


@pytest.mark.parametrize("at_once", [False, True], ids=["one-by-one", "all-at-once"])
async def test_pod_create_to_running_and_delete_to_gone(cluster: LocalClusterThread, at_once: bool) -> None:
    namespace = "bench-pods-burst" if at_once else "bench-pods"
    async with client(cluster) as api:
        to_running, to_gone = await pod_latencies(api, namespace, at_once)
    how = f"{PODS} at once" if at_once else "one at a time"
    record(f"pod create -> Running ({how})", p50_p99(to_running), f"{len(to_running)} pods")
    record(f"pod delete -> gone ({how})", p50_p99(to_gone), f"{len(to_gone)} pods")
    if at_once:
        record("process RSS after all of the above", f"{rss_mib():.0f} MiB")
