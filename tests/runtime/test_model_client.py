"""The model client against a mocked provider: retries, Retry-After, give-up, lenient parsing."""

import random

import httpx
import pytest
import respx

from agent_runtime.config import ModelConfig, RetryConfig
from agent_runtime.events import EventBus
from agent_runtime.metrics import Metrics
from agent_runtime.model import ModelClient, ModelRejectedError, ModelUnavailableError
from agent_runtime.model.backoff import backoff_delay, retry_after_seconds
from agent_runtime.outage import Dependencies

URL = "http://provider.test/v1/chat/completions"
OK = {
    "choices": [{"message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


def client(pauses: list[float], **retry: float) -> ModelClient:
    config = ModelConfig(
        endpoint="http://provider.test/v1",
        name="m",
        parameters={"temperature": 0},
        retry=RetryConfig(
            **{"max_attempts": 4, "initial_backoff_seconds": 1, "max_backoff_seconds": 8, **retry}
        ),
    )

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    return ModelClient(config, "sk-test", sleep=record, rng=random.Random(7))


@respx.mock
async def test_request_carries_model_messages_tools_parameters_and_key() -> None:
    route = respx.post(URL).respond(200, json=OK)
    completion = await client([]).complete([{"role": "user", "content": "x"}], [{"type": "function"}])

    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = httpx.Response(200, content=sent.content).json()
    assert body == {
        "max_tokens": 1024,
        "temperature": 0,
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function"}],
        "tool_choice": "auto",
    }
    assert completion.content == "hi"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 1)


@respx.mock
async def test_429_and_5xx_are_retried_honouring_retry_after() -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "5"}),
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=OK),
        ]
    )
    pauses: list[float] = []

    completion = await client(pauses).complete([], [])

    assert completion.content == "hi"
    assert len(pauses) == 3
    assert pauses[0] >= 5  # Retry-After is a floor
    assert pauses[1] <= 2 and pauses[2] <= 4  # full jitter under the doubling cap


@respx.mock
async def test_gives_up_after_max_attempts() -> None:
    route = respx.post(URL).respond(500)
    with pytest.raises(ModelUnavailableError, match="unavailable after 4 attempts: HTTP 500"):
        await client([]).complete([], [])
    assert route.call_count == 4


@respx.mock
async def test_timeouts_and_garbage_bodies_are_retryable() -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(200, text="<html>"),
            httpx.Response(200, json={"choices": []}),
            httpx.Response(200, json=OK),
        ]
    )
    reasons: list[str] = []
    model = client([])
    model._on_retry = lambda reason, delay: reasons.append(reason)

    assert (await model.complete([], [])).content == "hi"
    assert reasons[0] == "timeout"
    assert reasons[1].startswith("malformed response")
    assert reasons[2] == "malformed response (response has no choices[0].message)"


@respx.mock
async def test_client_errors_are_not_retried() -> None:
    route = respx.post(URL).respond(401, json={"error": {"message": "bad key"}})
    with pytest.raises(ModelRejectedError, match="HTTP 401"):
        await client([]).complete([], [])
    assert route.call_count == 1


@respx.mock
async def test_tool_calls_parse_including_object_arguments() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "finish", "arguments": '{"result": 1}'}},
            {"type": "function", "function": {"name": "finish", "arguments": {"result": 2}}},
        ],
    }
    respx.post(URL).respond(200, json={"choices": [{"message": message}]})

    completion = await client([]).complete([], [])

    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("a", "finish", '{"result": 1}'),
        ("call_1", "finish", '{"result": 2}'),
    ]
    assert completion.usage.prompt_tokens == 0
    assert completion.assistant_message()["tool_calls"][1]["function"]["arguments"] == '{"result": 2}'


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_is_capped_and_retry_after_bounded() -> None:
    policy = RetryConfig(initial_backoff_seconds=1, max_backoff_seconds=4, max_retry_after_seconds=30)
    rng = random.Random(1)
    assert all(0 <= backoff_delay(policy, n, None, rng) <= min(4, 2 ** (n - 1)) for n in range(1, 10))
    assert backoff_delay(policy, 1, 3600, rng) == 30


def test_the_output_limit_sets_the_default_timeout_and_parameters_may_choose_tools() -> None:
    base = {"endpoint": "http://provider.test/v1", "name": "m"}
    assert ModelConfig.model_validate(base).read_timeout_seconds == 60 + 1024 * 0.25
    assert ModelConfig.model_validate({**base, "maxOutputTokens": 100}).read_timeout_seconds == 85
    assert ModelConfig.model_validate({**base, "timeoutSeconds": 5}).read_timeout_seconds == 5
    forced = ModelConfig.model_validate({**base, "parameters": {"tool_choice": "required"}})
    body = ModelClient(forced, None).request_body([], [{"type": "function"}])
    assert body["tool_choice"] == "required"
    assert "tool_choice" not in ModelClient(forced, None).request_body([], [])


def test_max_tokens_in_parameters_names_the_field_to_use() -> None:
    with pytest.raises(ValueError, match=r"max_tokens: set model\.maxOutputTokens instead"):
        ModelConfig.model_validate({"endpoint": "http://p/v1", "name": "m", "parameters": {"max_tokens": 10}})


@respx.mock
async def test_a_context_overflow_is_its_own_rejection() -> None:
    from agent_runtime.model import ContextOverflowError

    body = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens",
            "code": "context_length_exceeded",
        }
    }
    respx.post(URL).respond(400, json=body)
    with pytest.raises(ContextOverflowError, match="maximum context length"):
        await client([]).complete([], [])


@respx.mock
async def test_a_retry_after_beyond_the_cap_is_clamped() -> None:
    # An hour asked for; the policy honours at most ten seconds (a hostile or broken header).
    respx.post(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200, json=OK)]
    )
    pauses: list[float] = []

    await client(pauses, max_retry_after_seconds=10).complete([], [])

    assert pauses == [10]


def test_an_outage_wait_is_capped_too() -> None:
    policy = RetryConfig(max_attempts=2, max_backoff_seconds=2, max_retry_after_seconds=10)
    dependencies = Dependencies(EventBus(), Metrics("a"), random.Random(7))
    outage = dependencies.unavailable("model", "provider.test", "HTTP 429")

    assert dependencies.next_wait(outage, policy, retry_after=3600) == 10
    waits = [dependencies.next_wait(outage, policy, retry_after=None) for _ in range(20)]
    assert max(waits) <= 2, "past the retries the backoff stays within maxBackoffSeconds"
