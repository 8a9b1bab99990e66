"""Finished pods of replaced incarnations: kept for their TTL, then deleted in batches, never a live one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.controller.finished import FinishedPods, KeptPod, batches, is_finished
from agent_supervisor.controller.kube import PODS, ApiError, KubeClient, Resource
from agent_supervisor.translate import labels
from localcluster.apiserver import ApiServer
from localcluster.apiserver.selectors import parse_label_selector

NS = "team-ns"
OWNER = ("Agent", NS, "solo")
TTL = 60.0
NAMESPACES = Resource("", "v1", "namespaces", "Namespace")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pod(agent: str, attempt: int, phase: str, uid: str | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": labels.pod_name(agent, attempt),
            "namespace": NS,
            "uid": uid or f"uid-{agent}-{attempt}",
            "labels": {
                labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
                labels.AGENT: agent,
                labels.ATTEMPT: str(attempt),
                labels.POD: labels.pod_label(labels.pod_name(agent, attempt)),
            },
            **metadata,
        },
        "status": {"phase": phase},
    }


def kept(agent: str, attempt: int, namespace: str = NS) -> KeptPod:
    name = labels.pod_name(agent, attempt)
    return KeptPod(OWNER, namespace, name, f"uid-{agent}-{attempt}", labels.pod_label(name), 0.0)


# --- which pods are taken over --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "metadata", "finished"),
    [
        ("Failed", {}, True),
        ("Succeeded", {}, True),
        ("Running", {}, False),
        ("Pending", {}, False),
        ("Unknown", {}, False),
        ("Failed", {"deletionTimestamp": "2026-11-24T00:00:00Z"}, False),
    ],
)
def test_only_a_terminated_pod_not_being_deleted_counts_as_finished(
    phase: str, metadata: dict[str, Any], finished: bool
) -> None:
    assert is_finished(pod("solo", 1, phase, **metadata)) is finished


def test_a_finished_pod_is_kept_but_a_live_one_is_left_to_the_caller() -> None:
    finished = FinishedPods(None, TTL)  # type: ignore[arg-type]
    assert finished.keep(OWNER, pod("solo", 1, "Failed"))
    assert not finished.keep(OWNER, pod("solo", 2, "Running"))
    # Created by an operator version without the pod label: no selector can name it, so it is deleted at once.
    unlabelled = pod("solo", 3, "Failed")
    del unlabelled["metadata"]["labels"][labels.POD]
    assert not finished.keep(OWNER, unlabelled)
    assert len(finished) == 1


def test_with_a_ttl_of_zero_nothing_is_kept() -> None:
    finished = FinishedPods(None, 0)  # type: ignore[arg-type]
    assert not finished.enabled
    assert not finished.keep(OWNER, pod("solo", 1, "Failed"))


def test_the_ttl_counts_from_the_first_hand_over_and_gone_pods_are_forgotten() -> None:
    clock = Clock()
    finished = FinishedPods(None, TTL, clock)  # type: ignore[arg-type]
    first, second = pod("solo", 1, "Failed"), pod("other", 1, "Failed")
    indexed = [first, second]
    finished.keep(OWNER, first)
    clock.now += 30
    # Every later reconcile hands the same pod over again: that must not postpone its deletion.
    finished.keep(OWNER, first)
    finished.keep(OWNER, second)
    clock.now += TTL - 30 - 0.001
    assert finished.due(lambda owner: indexed) == []
    clock.now += 0.001
    assert [k.name for k in finished.due(lambda owner: indexed)] == ["solo-1"]
    clock.now += 30
    # The other was deleted by someone else meanwhile: dropped, never part of a batch.
    assert [k.name for k in finished.due(lambda owner: [first])] == ["solo-1"]
    assert len(finished) == 1


def test_a_pod_the_index_shows_alive_or_with_another_uid_is_dropped() -> None:
    clock = Clock()
    finished = FinishedPods(None, TTL, clock)  # type: ignore[arg-type]
    finished.keep(OWNER, pod("solo", 1, "Failed"))
    finished.keep(OWNER, pod("other", 1, "Failed"))
    clock.now += TTL
    # A same-named pod of a re-created Agent is not the pod that was kept.
    recreated = pod("other", 1, "Failed", uid="uid-new")
    assert finished.due(lambda owner: [pod("solo", 1, "Running"), recreated]) == []
    assert len(finished) == 0


# --- batches ----------------------------------------------------------------------------------------------


def test_one_batch_per_namespace_whatever_the_attempts() -> None:
    found = batches([kept("b", 1), kept("a", 1), kept("a", 2), kept("a", 1, "other-ns")])
    assert [(b.namespace, b.label_selector) for b in found] == [
        ("other-ns", f"{labels.MANAGED_SELECTOR},{labels.POD} in (a-1)"),
        (NS, f"{labels.MANAGED_SELECTOR},{labels.POD} in (a-1,a-2,b-1)"),
    ]


def test_a_batch_names_at_most_the_given_number_of_pods() -> None:
    found = batches([kept(f"agent-{n:03d}", n % 7) for n in range(250)], per_batch=100)
    assert [len(b.pods) for b in found] == [100, 100, 50]
    assert len({k.name for b in found for k in b.pods}) == 250


@pytest.mark.parametrize("length", [1, 61, 63])
def test_the_pod_label_is_the_name_when_it_fits_and_a_valid_unique_value_when_not(length: int) -> None:
    agent = "a" * length
    short, long = labels.pod_label(labels.pod_name(agent, 7)), labels.pod_label(labels.pod_name(agent, 12345))
    for value in (short, long):
        assert len(value) <= 63
        assert parse_label_selector(f"{labels.POD}={value}")  # a valid label value
    if length + 2 <= 63:
        assert short == f"{agent}-7"
    assert long != labels.pod_label(labels.pod_name(agent, 12346))


# Names of 63 characters make pod names too long for a label value: their labels are digests.
agent_names = st.sampled_from(["a", "b", "c", "x" * 62 + "1", "x" * 62 + "2"])
pairs = st.tuples(st.sampled_from(["ns-1", "ns-2"]), agent_names, st.integers(1, 12))


@given(universe=st.sets(pairs, min_size=1), data=st.data())
def test_each_selector_matches_exactly_the_pods_of_its_batch(
    universe: set[tuple[str, str, int]], data: st.DataObject
) -> None:
    """Whatever else exists (other attempts of the same agents: their current pods), a batch's selector
    matches only the kept pods it lists."""
    chosen = data.draw(st.sets(st.sampled_from(sorted(universe)), min_size=1))
    found = batches([kept(agent, attempt, namespace) for namespace, agent, attempt in chosen], per_batch=2)
    covered: set[tuple[str, str]] = set()
    for batch in found:
        selector = parse_label_selector(batch.label_selector)
        matched = {
            (namespace, labels.pod_name(agent, attempt))
            for namespace, agent, attempt in universe
            if namespace == batch.namespace
            and selector.matches(pod(agent, attempt, "Failed")["metadata"]["labels"])
        }
        assert matched == {(batch.namespace, k.name) for k in batch.pods}
        covered |= matched
    assert covered == {(namespace, labels.pod_name(agent, attempt)) for namespace, agent, attempt in chosen}


class OneRequestKube:
    """Answers the sweep's one request; `during` sees the sweeper while the request is in flight."""

    def __init__(self, during: Any, answer: list[dict[str, Any]] | ApiError) -> None:
        self.during = during
        self.answer = answer

    async def delete_collection(self, *_: Any, **__: Any) -> list[dict[str, Any]]:
        self.during()
        if isinstance(self.answer, ApiError):
            raise self.answer
        return self.answer


async def test_a_deleted_event_that_arrives_before_the_response_is_still_known_as_ours() -> None:
    clock = Clock()
    body = pod("solo", 1, "Failed")
    seen: list[bool] = []
    kube = OneRequestKube(lambda: seen.append(finished.swept(body["metadata"]["uid"])), [body])
    finished = FinishedPods(kube, TTL, clock)  # type: ignore[arg-type]
    finished.keep(OWNER, body)
    clock.now += TTL

    assert await finished.sweep(lambda owner: [body]) == 1
    assert seen == [True]


async def test_a_failed_request_keeps_the_pods_for_the_next_sweep() -> None:
    clock = Clock()
    body = pod("solo", 1, "Failed")
    refused = ApiError("DELETE", "/api/v1/namespaces/team-ns/pods", 503, "ServiceUnavailable", "try later")
    finished = FinishedPods(OneRequestKube(lambda: None, refused), TTL, clock)  # type: ignore[arg-type]
    finished.keep(OWNER, body)
    clock.now += TTL

    assert await finished.sweep(lambda owner: [body]) == 0
    assert len(finished) == 1
    assert not finished.swept(body["metadata"]["uid"]), "not deleted: its owner must hear of its deletion"


# --- against the local API server -------------------------------------------------------------------------


class CountingKube:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def __call__(self, verb: str, resource: str, status: int) -> None:
        self.requests.append((verb, resource))


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[KubeClient, CountingKube]]:
    server = ApiServer(tmp_path / "state")
    await server.start()

    async def credentials() -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server.url, token=server.token)

    counter = CountingKube()
    try:
        async with KubeClient(login=credentials, on_response=counter) as client:
            await client.create(
                NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
            )
            yield client, counter
    finally:
        await server.stop()


async def create_pod(kube: KubeClient, agent: str, attempt: int, phase: str) -> dict[str, Any]:
    manifest = pod(agent, attempt, phase)
    del manifest["metadata"]["uid"], manifest["status"]
    manifest["spec"] = {"restartPolicy": "Never", "containers": [{"name": "agent", "image": "agent:test"}]}
    created = await kube.create(PODS, NS, {"apiVersion": "v1", "kind": "Pod", **manifest})
    return await kube.merge_patch(
        PODS, NS, created["metadata"]["name"], {"status": {"phase": phase}}, subresource="status"
    )


async def test_due_pods_of_one_attempt_go_in_one_request_and_live_pods_stay(
    api: tuple[KubeClient, CountingKube],
) -> None:
    kube, counter = api
    clock = Clock()
    finished = FinishedPods(kube, TTL, clock)
    crashed = [await create_pod(kube, agent, 1, "Failed") for agent in ("alpha", "beta", "gamma")]
    current = [await create_pod(kube, agent, 2, "Running") for agent in ("alpha", "beta", "gamma")]
    # The index still shows gamma-1 finished, but the server now says Running (say, the index lags): the
    # request's field selector must spare it.
    await kube.merge_patch(PODS, NS, "gamma-1", {"status": {"phase": "Running"}}, subresource="status")
    indexed = crashed + current
    for body in crashed:
        assert finished.keep(OWNER, body)
    clock.now += TTL
    counter.requests.clear()

    deleted = await finished.sweep(lambda owner: indexed)

    assert deleted == 2
    assert counter.requests == [("DELETE", "pods")]
    remaining = {item["metadata"]["name"] async for item in kube.list_items(PODS, NS)}
    assert remaining == {"gamma-1", "alpha-2", "beta-2", "gamma-2"}
    assert len(finished) == 0
    # Their DELETED events need no reconcile of their owners; any other pod's deletion does.
    assert [finished.swept(body["metadata"]["uid"]) for body in crashed] == [True, True, False]
    assert not finished.swept(crashed[0]["metadata"]["uid"]), "asked once, by the one DELETED event"
