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
from tests.runtime.realmodels.conftest import LlamaServer, pages_the_model_copies

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
