"""How the operator learns of dependency outages (controller/dependency_watch.py), against a real agent
runtime process and the scripted model server: the report follows the runtime's `/v1/status` as outages
begin and end, each change queues a reconcile, and a pod that stops serving is forgotten."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from agent_supervisor.controller.dependency_watch import DependencyWatch
from agent_supervisor.controller.tokens import MessagingTokens
from agent_supervisor.translate import labels
from tests.runtime.conftest import TOKEN, Runtime, agent_config
from tests.runtime.conftest import model_server as model_server

NAMESPACE = "team-ns"


class Tokens:
    """The tree's messaging token as MessagingTokens.read gives it; records which root was asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.roots: list[tuple[str, str]] = []

    async def read(self, namespace: str, root: str) -> str:
        self.roots.append((namespace, root))
        return self.token


class Changes:
    """The watch's on_change, awaitable: each call is a reconcile the operator would queue."""

    def __init__(self) -> None:
        self.pods: list[Mapping[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, pod: Mapping[str, Any]) -> None:
        self.pods.append(pod)
        self._changed.set()

    async def until(self, condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
        """Wait, change by change, until `condition` holds (each change is the watch's own event)."""
        try:
            async with asyncio.timeout(seconds):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}") from None


def pod_body(runtime: Runtime, ready: bool = True, uid: str = "uid-1") -> dict[str, Any]:
    """The agent's pod as the operator's index holds it: Ready, with the runtime's address."""
    return {
        "metadata": {
            "name": f"{runtime.name}-1",
            "namespace": NAMESPACE,
            "uid": uid,
            "labels": {
                labels.AGENT: runtime.name,
                labels.SUPERVISOR: "team",
                labels.CHILD: "writer",
                labels.ROOT: "org",
            },
        },
        "status": {
            "podIP": runtime.host,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


@pytest.fixture
def runtime(tmp_path: Path, model_server: Any) -> Iterator[Runtime]:
    """A service agent whose model, by its system prompt's scenario, answers 503 forever."""
    config = agent_config("watched", model_server.url, "[[scenario:unavailable]] You are watched.")
    config["model"]["retry"] = {"maxAttempts": 2, "initialBackoffSeconds": 0.05, "maxBackoffSeconds": 0.1}
    started = Runtime(tmp_path, config).start().wait_ready()
    yield started
    started.kill()


@pytest.fixture
async def watches() -> AsyncIterator[Callable[[Runtime, str], tuple[DependencyWatch, Changes, Tokens]]]:
    made: list[DependencyWatch] = []

    def make(runtime: Runtime, token: str = TOKEN) -> tuple[DependencyWatch, Changes, Tokens]:
        changes, tokens = Changes(), Tokens(token)
        watch = DependencyWatch(runtime.port, cast(MessagingTokens, tokens), changes)
        made.append(watch)
        return watch, changes, tokens

    yield make
    for watch in made:
        await watch.close()


def names(report: Mapping[str, Any] | None) -> list[str] | None:
    return None if report is None else [entry["name"] for entry in report["dependencies"]]


async def test_the_report_follows_an_outage_as_it_begins_and_ends(runtime: Runtime, watches: Any) -> None:
    watch, changes, tokens = watches(runtime)
    pod = pod_body(runtime)
    watch.sync(pod)
    assert watch.following() == 1

    # On connect the status is read: nothing is down yet, and that is a report too.
    await changes.until(lambda: watch.report(NAMESPACE, "watched") is not None, "the first report")
    assert names(watch.report(NAMESPACE, "watched")) == []
    assert tokens.roots[0] == (NAMESPACE, "org")  # the token of the tree the pod belongs to
    assert changes.pods[-1] is pod

    runtime.send("write the report").raise_for_status()  # the model answers 503: an outage
    await changes.until(lambda: names(watch.report(NAMESPACE, "watched")) == ["model"], "the outage")
    [model] = cast(Mapping[str, Any], watch.report(NAMESPACE, "watched"))["dependencies"]
    assert model["available"] is False and model["reason"] == "HTTP 503"
    assert "prompt" not in str(watch.report(NAMESPACE, "watched"))  # only the dependencies are kept

    # A new config sends the model to a scenario that answers: the wait ends, and so does the outage.
    config = dict(runtime.config, systemPrompt="You are watched.", revision="2")
    runtime.write_config(config)
    runtime.post("/v1/config/reload").raise_for_status()
    await changes.until(lambda: names(watch.report(NAMESPACE, "watched")) == [], "the end of the outage")


async def test_a_pod_that_stops_serving_is_forgotten(runtime: Runtime, watches: Any) -> None:
    watch, changes, _ = watches(runtime)
    watch.sync(pod_body(runtime))
    await changes.until(lambda: watch.report(NAMESPACE, "watched") is not None, "the first report")
    seen = len(changes.pods)

    watch.sync(pod_body(runtime, ready=False))  # e.g. draining after SIGTERM

    assert watch.following() == 0
    assert watch.report(NAMESPACE, "watched") is None
    assert len(changes.pods) == seen + 1  # its Agent is judged again: nothing of this pod waits any more


def test_only_serving_agent_pods_are_followed(tmp_path: Path) -> None:
    async def run() -> None:
        changes = Changes()
        watch = DependencyWatch(1, cast(MessagingTokens, Tokens(TOKEN)), changes)
        runtime = Runtime(tmp_path, agent_config("idle", "http://127.0.0.1:9/v1", "x"))  # never started
        watch.sync(pod_body(runtime, ready=False))
        worker = pod_body(runtime)
        del worker["metadata"]["labels"][labels.AGENT]  # a worker's pod: no agent runtime to ask
        watch.sync(worker)
        assert watch.following() == 0 and changes.pods == []
        await watch.close()

    asyncio.run(run())


async def test_a_refused_token_gives_no_report(runtime: Runtime, watches: Any) -> None:
    refused, _, _ = watches(runtime, "not-the-token")
    accepted, changes, _ = watches(runtime)
    refused.sync(pod_body(runtime, uid="uid-refused"))
    accepted.sync(pod_body(runtime))

    await changes.until(lambda: accepted.report(NAMESPACE, "watched") is not None, "the accepted report")
    # The 401 is no report (it is retried, with backoff): the Agent keeps its stored condition meanwhile.
    assert refused.report(NAMESPACE, "watched") is None
    assert refused.following() == 1
