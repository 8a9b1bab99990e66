"""The agent loop against llama.cpp's server with SmolLM2-135M-Instruct (`make test-models`).

A 135M model at temperature 0 is deterministic but not clever: the tests assert what the loop does with what
the server answers (tool calls parsed, cut replies, context errors), not the quality of the answers.
"""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from agent_runtime import exitcodes
from agent_runtime.config import RuntimeConfig, parse_config
from tests.runtime.conftest import LOOPBACK_ANY_PORT
from tests.runtime.inprocess import run_task
from tests.runtime.realmodels.conftest import LlamaServer, Pages, pages_the_model_copies

pytestmark = pytest.mark.models

SYSTEM = "You are an agent. To answer, fetch the page with http_get, then say what it says."
PAGES = {"/page": b"one two three four five", "/huge": b"lorem ipsum dolor sit amet " * 1250}  # 33 KB


@pytest.fixture(scope="module")
def pages(llama: LlamaServer) -> Iterator[str]:
    async def fetched(url: str) -> bool:
        run = await run_task(None, agent(llama, f"What does {url} say?", maxSteps=1))
        calls = run.messages[2].get("tool_calls") or []
        return [call["function"]["arguments"] for call in calls] == [json.dumps({"url": url})]

    site = asyncio.run(pages_the_model_copies(PAGES, fetched))
    yield site.url
    site.close()


def agent(llama: LlamaServer, task: str, tools: bool = True, **extra: Any) -> RuntimeConfig:
    model = {
        "endpoint": llama.url,
        "name": "smollm2-135m",
        "parameters": {"temperature": 0, "seed": 1},
        "maxOutputTokens": 100,
        **extra.pop("model", {}),
    }
    config: dict[str, Any] = {
        "apiVersion": "runtime.otp.agents.dev/v1",
        "agent": {"name": "real"},
        "model": model,
        "systemPrompt": SYSTEM,
        "task": task,
        "maxSteps": 6,
        **extra,
    }
    if tools:
        config["tools"] = [{"name": "http_get", "settings": LOOPBACK_ANY_PORT}]
    return parse_config(config)


def tool_results(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "tool"]


async def test_a_multi_step_tool_task_completes(llama: LlamaServer, pages: str) -> None:
    run = await run_task(None, agent(llama, f"What does {pages}/page say?"))

    assert run.exit.code == exitcodes.EXIT_OK, run.exit
    assert run.requests[0]["tool_choice"] == "auto"
    assert tool_results(run.messages) == ["one two three four five"]
    assert run.exit.result  # the model's answer after reading the page
    assert set(run.statuses) == {200}


async def test_a_tool_call_cut_by_max_tokens_recovers(llama: LlamaServer, pages: str) -> None:
    # The call takes 49 tokens (SmolLM2 spells the address out digit by digit): 30 cut it, 60 do not.
    run = await run_task(None, agent(llama, f"What does {pages}/page say?", model={"maxOutputTokens": 30}))

    assert [event.type for event in run.events].count("truncated") == 1
    assert [request["max_tokens"] for request in run.requests][:2] == [30, 60]  # asked again, with room
    assert tool_results(run.messages) == ["one two three four five"]  # the cut call never entered it
    assert set(run.statuses) == {200}
    assert run.exit.code == exitcodes.EXIT_OK, run.exit


async def test_an_overflowing_tool_result_is_cut_and_the_task_goes_on(llama: LlamaServer, pages: str) -> None:
    limits = {"context": {"maxToolResultChars": 1000}, "maxSteps": 3, "model": {"maxOutputTokens": 40}}
    run = await run_task(None, agent(llama, f"What does {pages}/huge say?", **limits))

    result = tool_results(run.messages)[0]
    assert result.endswith(f"[cut to 1000 characters of {len(PAGES['/huge'])}]")
    assert set(run.statuses) == {200}  # 33 KB would not have fitted the 2048-token context
    assert len([event for event in run.events if event.type == "step"]) >= 2
    # Whether the 135M model's answer fits 40 tokens is its business; the loop went on either way.
    assert run.exit.code in (exitcodes.EXIT_OK, exitcodes.EXIT_BUDGET_EXHAUSTED), run.exit


async def test_a_context_overflow_elides_the_result_and_the_task_goes_on(
    llama: LlamaServer, pages: str
) -> None:
    run = await run_task(None, agent(llama, f"What does {pages}/huge say?"))

    assert 400 in run.statuses  # llama.cpp: exceed_context_size_error for the 16000-character result
    assert "elided to fit" in tool_results(run.messages)[0]
    assert run.exit.code == exitcodes.EXIT_OK, run.exit


async def test_finish_reason_length_is_reported_as_truncated(llama: LlamaServer) -> None:
    config = agent(
        llama, "Write a long story about a dragon.", tools=False, maxSteps=2, model={"maxOutputTokens": 8}
    )
    run = await run_task(None, config)

    steps = [event.data for event in run.events if event.type == "step"]
    assert [step["truncated"] for step in steps] == [True, True]
    assert run.exit.code == exitcodes.EXIT_BUDGET_EXHAUSTED  # a cut reply is never taken as the result
    assert "cut off" in run.messages[3]["content"]


PAIR = {"/a": b"alpha page", "/b": b"beta page"}
PARALLEL = {"temperature": 0, "seed": 1, "parallel_tool_calls": True}


@pytest.mark.timeout(900)  # two steps of up to 150 tokens: minutes when the 2 cores are shared
async def test_several_tool_calls_in_one_message_each_run_and_each_answered(llama: LlamaServer) -> None:
    # With `parallel_tool_calls` and the template's worked example, SmolLM2 asked about two pages calls
    # http_get twice in one message (3 runs of 3 on 2026-12-07). As with `pages`, a port whose digits it
    # garbles is swapped for another.
    for _ in range(3):
        site = Pages(PAIR)
        urls = [site.url + path for path in PAIR]
        task = f"What do {urls[0]} and {urls[1]} say?"
        try:
            run = await run_task(
                None, agent(llama, task, maxSteps=2, model={"parameters": PARALLEL, "maxOutputTokens": 150})
            )
        finally:
            site.close()
        calls = run.messages[2].get("tool_calls") or []
        if [json.loads(call["function"]["arguments"]) for call in calls] == [{"url": url} for url in urls]:
            break
    else:
        raise AssertionError("the model made no two-call message for 3 ports in a row")

    assert run.requests[0]["parallel_tool_calls"] is True
    # Every call ran, in order, and each result answers its own call's id, right after the assistant turn.
    answers = run.messages[3:5]
    assert [(m["role"], m["tool_call_id"]) for m in answers] == [("tool", call["id"]) for call in calls]
    assert [m["content"] for m in answers] == ["alpha page", "beta page"]
    assert len({call["id"] for call in calls}) == 2
    # The server took the conversation back with both results in it.
    assert run.statuses == [200, 200]
    assert run.requests[1]["messages"][3:5] == answers


async def test_a_parameter_the_server_refuses_with_400_fails_the_task_naming_it(llama: LlamaServer) -> None:
    # llama.cpp serves one choice per request: `n: 2` is refused with a 400 that names the field.
    run = await run_task(None, agent(llama, "Say hello.", tools=False, model={"parameters": {"n": 2}}))

    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert run.statuses == [400]  # a rejection is never retried
    assert "400" in run.exit.message and "Field 'n'" in run.exit.message
    task = run.agent.state.task
    assert task is not None and task.outcome == "failed"  # recorded: a restart reports it, never resends
