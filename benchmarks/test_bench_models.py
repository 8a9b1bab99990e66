"""Runtime overhead per step against a real model server (`make bench`, or `-m models -k models`).

A service agent process (file checkpoint store, fsynced) answers questions with llama.cpp's server and
SmolLM2-135M-Instruct (tests/runtime/realmodels): each task is an `http_get` step and an answer step. Per
step, the runtime's overhead is the step's wall time minus its model call, from the `step` events of
/v1/events: encoding the request, parsing the reply, running the tool (a local page), writing the
checkpoint. Issue 15's goal: p50 <= 5 ms (it was about 25 ms, 20 of them a new HTTP client for every
http_get). Prints a table; asserts correctness only, never timing.
"""

import asyncio
import json
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from agent_runtime.config import parse_config
from benchmarks.reporting import ResultTable, p50_p99, print_when_done
from tests.runtime.conftest import LOOPBACK_ANY_PORT, Runtime, agent_config, eventually
from tests.runtime.inprocess import run_task
from tests.runtime.realmodels.conftest import LlamaServer, pages_the_model_copies
from tests.runtime.realmodels.llamacpp import available

pytestmark = pytest.mark.models

TASKS: Final = 20
SYSTEM: Final = "You are an agent. To answer, fetch the page with http_get, then say what it says."
RESULTS = ResultTable(third_column="goal", value_width=18)


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield from print_when_done(
        RESULTS, "agent runtime against llama.cpp (SmolLM2-135M)", f"{TASKS} tasks of two steps each"
    )


class StepEvents:
    """Collects the `step` events of an agent's /v1/events stream on a thread of its own."""

    def __init__(self, agent: Runtime) -> None:
        self.steps: list[dict[str, Any]] = []
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(agent,), daemon=True)
        self._thread.start()
        assert self._subscribed.wait(10)

    def _read(self, agent: Runtime) -> None:
        with httpx.stream("GET", agent.url + "/v1/events", headers=agent.headers(), timeout=None) as stream:
            event = ""
            for line in stream.iter_lines():
                self._subscribed.set()
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "step":
                    self.steps.append(json.loads(line[6:]))

    def join(self) -> None:
        self._thread.join(10)


@pytest.mark.timeout(900)
def test_step_overhead_against_llama_cpp(tmp_path: Path) -> None:
    if (missing := available()) is not None:
        pytest.skip(missing)
    llama = LlamaServer(tmp_path / "llama.log")
    tools = [{"name": "http_get", "settings": LOOPBACK_ANY_PORT}]
    config = agent_config("bench", llama.url, SYSTEM, tools=tools, checkpoint=tmp_path / "bench.ckpt")
    config["model"] |= {"name": "smollm2-135m", "parameters": {"temperature": 0}, "maxOutputTokens": 100}
    config["model"].pop("timeoutSeconds")

    async def fetched(
        url: str,
    ) -> bool:  # asked as the service agent will be asked (see pages_the_model_copies)
        task = {**config, "task": f"[message from tester]\nWhat does {url} say?", "maxSteps": 1}
        run = await run_task(None, parse_config({**task, "checkpoint": {"store": "none"}}))
        return bool(run.messages[2].get("tool_calls"))

    site = asyncio.run(pages_the_model_copies({"/page": b"one two three four five"}, fetched))
    page = site.url + "/page"
    agent = Runtime(tmp_path, config).start().wait_ready()
    try:
        events = StepEvents(agent)
        for number in range(TASKS + 1):  # the first task warms up (imports, first connections): not counted
            assert agent.send(f"What does {page} say?", id=f"q{number}").status_code == 202
            eventually(
                lambda done=number + 1: agent.status()["tasksCompleted"] >= done,
                timeout=120,
                interval=0.05,
                what=f"task {number}",
            )
        warm_up = next(i for i, step in enumerate(events.steps) if step["done"]) + 1
        steps = events.steps[warm_up:]
    finally:
        agent.signal(15)
        agent.wait_exit()
        events.join()
        llama.stop()
        site.close()
    assert len(steps) >= 2 * TASKS and any("http_get" in step["tools"] for step in steps)
    overhead = [step["seconds"] - step["modelSeconds"] for step in steps]
    tool_steps = [o for o, step in zip(overhead, steps, strict=True) if step["tools"]]
    RESULTS.record(f"runtime overhead per step, p50 / p99 of {len(steps)}", p50_p99(overhead), "p50 <= 5 ms")
    RESULTS.record(f"  steps with an http_get call, p50 / p99 of {len(tool_steps)}", p50_p99(tool_steps))
    model = statistics.median(step["modelSeconds"] for step in steps)
    RESULTS.record("model call (llama.cpp, CPU), median", f"{model * 1000:.0f} ms")
