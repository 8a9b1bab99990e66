"""The operator's watch and calls of a pod supervisor (controller/incarnation_watch.py), against the real pod
supervisor process: reports arrive and queue a reconcile, calls succeed or refuse as the protocol says, and a
pod supervisor that refuses the operator's token is known as such."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent_runtime.incarnation_protocol import IncarnationExit, IncarnationState, WatchLine
from agent_supervisor.controller.incarnation_watch import IncarnationWatch
from agent_supervisor.translate import incarnations
from tests.aiohttp_serving import serving
from tests.runtime.conftest import agent_config
from tests.runtime.conftest import model_server as model_server
from tests.runtime.pod_harness import CONTROL_TOKEN, PodSupervisorProcess

UID = "uid-team-a-1"


@pytest.fixture
def pod_supervisor(tmp_path: Path, model_server: Any) -> Iterator[PodSupervisorProcess]:
    config = agent_config("watched", model_server.url, "You are watched.")
    pod = PodSupervisorProcess(tmp_path / "pod", config).start()
    yield pod
    pod.kill()


def pod_body(host: str, control_port: int) -> dict[str, Any]:
    """The pod as the operator's index holds it: running, with its address and control port."""
    return {
        "metadata": {
            "name": "team-a-1",
            "namespace": "team-ns",
            "uid": UID,
            "labels": {"otp.agents.dev/supervisor": "team", "otp.agents.dev/child": "a"},
            "annotations": {incarnations.CONTROL_PORT: str(control_port)},
        },
        "status": {"phase": "Running", "podIP": host, "containerStatuses": [{"state": {"running": {}}}]},
    }


@dataclass
class Watched:
    """An IncarnationWatch of the pod supervisor, and the reconciles its reports queue."""

    watch: IncarnationWatch
    reports: Reports
    body: dict[str, Any]


@pytest.fixture
async def watched(pod_supervisor: PodSupervisorProcess) -> AsyncIterator[Callable[[str], Watched]]:
    """Makes a watch with the given token and syncs it with the pod; closes them all after the test."""
    made: list[IncarnationWatch] = []

    def make(token: str) -> Watched:
        reports = Reports()
        watch = IncarnationWatch(token, reports)
        made.append(watch)
        body = pod_body(pod_supervisor.host, pod_supervisor.control_port)
        watch.sync(body)
        return Watched(watch, reports, body)

    yield make
    for watch in made:
        await watch.close()


class Reports:
    """The watch's on_change, awaitable: each call is a reconcile the operator would queue."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.calls = 0

    def __call__(self, pod: Mapping[str, Any]) -> None:
        assert pod["metadata"]["uid"] == UID
        self.calls += 1
        self.changed.set()

    async def until(
        self, watch: IncarnationWatch, condition: Callable[[IncarnationState], bool], what: str
    ) -> IncarnationState:
        async def reported() -> IncarnationState:
            while True:
                report = watch.reports.get(UID)
                if report is not None and condition(report):
                    return report
                self.changed.clear()
                await self.changed.wait()

        try:
            return await asyncio.wait_for(reported(), 30)
        except TimeoutError:
            raise AssertionError(f"no report of {what}; last: {watch.reports.get(UID)}") from None


async def test_reports_queue_reconciles_and_calls_follow_the_protocol(pod_supervisor, watched):
    subject = watched(CONTROL_TOKEN)
    watch, reports, body = subject.watch, subject.reports, subject.body
    ready = await reports.until(watch, lambda r: r.phase == "Ready", "attempt 1 Ready")
    assert ready.attempt == 1 and ready.pid is not None

    os.kill(ready.pid, signal.SIGKILL)  # the agent process dies, its pod supervisor lives on
    crashed = await reports.until(watch, lambda r: r.phase == "Exited", "the crash")
    done = crashed.exit_of(1)
    assert done is not None and (done.exit_code, done.signal, done.stopped) == (137, 9, False)

    assert await watch.start(body, 2, 5)
    await reports.until(watch, lambda r: (r.attempt, r.phase) == (2, "Ready"), "attempt 2 Ready")
    assert await watch.start(body, 2, 5), "a repeated start is done already"
    assert not await watch.start(body, 1, 5), "an older attempt is refused"
    assert watch.reports[UID].attempt == 2, "and the refusal's state is still the newest"

    assert await watch.stop(body, 2, 0)
    await reports.until(watch, lambda r: (r.attempt, r.phase) == (2, "Exited"), "attempt 2 stopped")
    assert await watch.release(body, 2)
    assert pod_supervisor.wait_exit() == 137, "the container ends with the released incarnation's code"
    assert reports.calls >= 4

    watch.forget(body)
    assert UID not in watch.reports


async def test_a_pod_supervisor_that_refuses_the_token_is_known_as_refusing(watched):
    subject = watched("not-the-operators-token")
    # The refusal queues a reconcile: the pod's child no longer waits for its report.
    await asyncio.wait_for(subject.reports.changed.wait(), 30)
    assert UID in subject.watch.refused
    assert not await subject.watch.start(subject.body, 2, 5), "no call is tried with a refused token"
    assert UID not in subject.watch.reports


async def test_a_pod_that_stops_running_is_no_longer_watched(watched):
    subject = watched(CONTROL_TOKEN)
    watch, body = subject.watch, subject.body
    await subject.reports.until(watch, lambda r: r.phase == "Ready", "attempt 1 Ready")
    assert watch.watching() == 1
    deleting = {**body, "metadata": {**body["metadata"], "deletionTimestamp": "2026-12-07T00:00:00Z"}}
    watch.sync(deleting)
    assert watch.watching() == 0
    assert UID in watch.reports, "the last report stays until the pod is gone"


def line(state: IncarnationState) -> bytes:
    return WatchLine(type="state", state=state).model_dump_json(by_alias=True).encode() + b"\n"


async def test_a_calls_answer_never_replaces_a_newer_line_of_the_watch():
    """A brutal kill's Exited line can reach the operator before the stop call's own answer, which says
    Stopping (the state as the call was answered). Nothing follows the Exited line: were the late answer
    taken, the operator would wait for an exit it has already been told of, and the group restart would stall.
    The race is staged by a stand-in pod supervisor that answers the stop only once the watch has taken both
    lines (the real one cannot be made to lose it on purpose)."""
    running = IncarnationState(attempt=1, phase="Ready", pid=42, startedAt="t0", readyAt="t1")
    stopping = running.model_copy(update={"phase": "Stopping"})
    done = IncarnationExit(attempt=1, exitCode=137, signal=9, reason="Killed", stopped=True, finishedAt="t2")
    exited = running.model_copy(update={"phase": "Exited", "pid": None, "exits": (done,)})
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    lines.put_nowait(line(running))
    reports = Reports()
    watch = IncarnationWatch(CONTROL_TOKEN, reports)

    async def watch_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while chunk := await lines.get():  # b"": the test is over
            await response.write(chunk)
        return response

    async def stop(request: web.Request) -> web.Response:
        await lines.put(line(stopping))
        await lines.put(line(exited))
        await reports.until(watch, lambda r: r.phase == "Exited", "the Exited line")
        return web.json_response(stopping.model_dump(mode="json", by_alias=True), status=202)

    app = web.Application()
    app.router.add_get("/v1/incarnation", watch_stream)
    app.router.add_post("/v1/incarnation/stop", stop)
    async with serving(app) as port:
        body = pod_body("127.0.0.1", port)
        try:
            watch.sync(body)
            await reports.until(watch, lambda r: r.phase == "Ready", "the first line")
            assert await watch.stop(body, 1, 0)
            assert watch.reports[UID].phase == "Exited", "the stale answer replaced the watch's newer line"
        finally:
            await watch.close()
            lines.put_nowait(b"")  # ends the open watch response
