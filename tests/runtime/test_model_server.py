"""The scripted model server: scenario choice, stepping, failures, hangs and usage, over its HTTP API."""

from pathlib import Path

import httpx
import pytest

from agent_runtime.modelserver.app import create_model_app
from agent_runtime.modelserver.scenarios import (
    BUILTIN,
    Scenario,
    ScenarioFileError,
    Step,
    choose,
    load_scenarios,
    step_index,
)

SCENARIOS = load_scenarios(Path(__file__).with_name("scenarios.yaml"))


def chat(system: str, *turns: dict, model: str = "scripted") -> dict:
    return {"model": model, "messages": [{"role": "system", "content": system}, *turns]}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_scenario_is_chosen_from_user_message_then_system_prompt_then_model_name() -> None:
    assert choose("scripted", [user("[[scenario:crash]] now")], SCENARIOS) == "crash"
    both = [{"role": "system", "content": "[[scenario:worker]]"}, user("[[scenario:crash]]")]
    assert choose("scripted", both, SCENARIOS) == "crash"
    assert (
        choose("scripted", [{"role": "system", "content": "[[scenario:worker]]"}, user("x")], SCENARIOS)
        == "worker"
    )
    assert choose("scripted:finish", [user("x")], SCENARIOS) == "finish"
    assert choose("hang", [user("x")], SCENARIOS) == "hang"
    assert choose("gpt-4o", [user("[[scenario:unknown]]")], SCENARIOS) == "echo"


def test_step_is_the_number_of_assistant_turns() -> None:
    turns = [
        user("a"),
        {"role": "assistant", "content": None},
        {"role": "tool", "content": "r"},
        user("injected"),
        {"role": "assistant", "content": "x"},
    ]
    assert step_index(turns) == 2


def test_scenario_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  x:\n    steps:\n      - fail: {status: 200}\n")
    with pytest.raises(ScenarioFileError, match=r"scenarios.x.steps.0.fail.status"):
        load_scenarios(bad)


@pytest.fixture
async def client():
    app = create_model_app(
        {**SCENARIOS, "quick": Scenario(steps=[Step(delay_seconds=0.01, reply="ok")])}, "key"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://model",
        headers={"Authorization": "Bearer key"},
    ) as http:
        yield http


async def test_tool_call_then_answer_with_usage(client: httpx.AsyncClient) -> None:
    first = (
        await client.post("/v1/chat/completions", json=chat("[[scenario:coordinator]]", user("job")))
    ).json()
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert call["id"] == "call_0_0"
    assert call["function"] == {"name": "send_message", "arguments": '{"to": "worker", "content": "fyi job"}'}
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert first["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}

    log = (await client.get("/scripted/requests")).json()
    assert log["usage"] == {"requests": 1, "promptTokens": 2, "completionTokens": 5}
    assert log["requests"][0]["scenario"] == "coordinator"


async def test_failures_count_per_conversation_with_retry_after(client: httpx.AsyncClient) -> None:
    statuses = []
    for _ in range(3):
        response = await client.post("/v1/chat/completions", json=chat("[[scenario:flaky429]]", user("one")))
        statuses.append(response.status_code)
    assert statuses == [429, 429, 200]
    other = await client.post("/v1/chat/completions", json=chat("[[scenario:flaky429]]", user("two")))
    assert other.status_code == 429
    assert other.headers["retry-after"] == "0.3"


async def test_malformed_bodies_delays_auth_and_bad_requests(client: httpx.AsyncClient) -> None:
    scenarios = {"junk": Scenario(steps=[Step(malformed="not_json")])}
    app = create_model_app(scenarios)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as plain:
        junk = await plain.post("/v1/chat/completions", json=chat("x", user("y"), model="junk"))
        assert junk.status_code == 200 and junk.text.startswith("<html>")
    assert (await client.post("/v1/chat/completions", json=chat("x", user("y"), model="quick"))).json()[
        "choices"
    ][0]["message"]["content"] == "ok"
    unauthorised = await client.post(
        "/v1/chat/completions", json=chat("x"), headers={"Authorization": "Bearer no"}
    )
    assert unauthorised.status_code == 401
    streaming = await client.post("/v1/chat/completions", json={**chat("x"), "stream": True})
    assert streaming.status_code == 400
    assert (await client.post("/v1/chat/completions", json={"messages": "no"})).status_code == 400


async def test_models_lists_every_scenario(client: httpx.AsyncClient) -> None:
    ids = [model["id"] for model in (await client.get("/v1/models")).json()["data"]]
    assert ids[0] == "scripted"
    assert {f"scripted:{name}" for name in BUILTIN} <= set(ids)
