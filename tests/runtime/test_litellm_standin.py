"""The agent loop behind LiteLLM's proxy, from its answers as recorded in litellm_recorded.yaml."""

from pathlib import Path

import pytest

from agent_runtime import exitcodes
from agent_runtime.config import RuntimeConfig
from agent_runtime.modelserver.scenarios import load_scenarios
from tests.runtime.inprocess import config, run_task

SCENARIOS = load_scenarios(Path(__file__).with_name("litellm_recorded.yaml"))


def behind_litellm(scenario: str, **retry: float) -> RuntimeConfig:
    policy = {"maxAttempts": 6, "initialBackoffSeconds": 0.001, "maxBackoffSeconds": 0.002, **retry}
    return config(scenario, model={"retry": policy})


async def test_a_rate_limit_waits_as_long_as_the_upstream_asked() -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    limited = behind_litellm("litellm-rate-limited", maxRetryAfterSeconds=300)
    run = await run_task(SCENARIOS, limited, sleep=no_sleep)

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "after the rate limit")
    assert pauses == [pytest.approx(7.0), pytest.approx(7.0)]  # llm_provider-retry-after-ms, not the jitter


async def test_an_exhausted_quota_is_a_rejection_not_an_outage() -> None:
    run = await run_task(SCENARIOS, behind_litellm("litellm-quota"))
    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert "quota" in run.exit.message
    assert len(run.requests) == 1


async def test_a_context_error_that_nothing_can_shrink_fails_the_task() -> None:
    run = await run_task(SCENARIOS, behind_litellm("litellm-context"))
    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert "does not fit the model's context" in run.exit.message


async def test_the_same_500_every_time_is_a_rejection() -> None:
    run = await run_task(SCENARIOS, behind_litellm("litellm-server-error"))
    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert len(run.requests) == 3


async def test_different_500s_are_an_outage_that_can_pass() -> None:
    run = await run_task(SCENARIOS, behind_litellm("litellm-flaky"))
    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "after the outage")
