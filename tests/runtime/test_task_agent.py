"""Task agents end to end: real runtime processes against the scripted model server over HTTP."""

import itertools
import signal
from pathlib import Path

import pytest

from agent_runtime import exitcodes
from agent_runtime.checkpoint import decode_state
from tests.runtime.conftest import loopback_http_get

WORD_COUNT = {"name": "run_program", "settings": {"command": ["wc", "-w"]}}


def transcript(checkpoint: Path) -> list[dict]:
    state = decode_state(checkpoint.read_bytes())
    assert state.task is not None
    return state.task.messages


def test_multi_step_tool_use_reaches_a_final_answer(
    model_server, runtimes, make_config, marker, site, tmp_path
):
    checkpoint = tmp_path / "a.ckpt"
    tools = [{"name": "http_get", "settings": loopback_http_get(site)}, WORD_COUNT]
    config = make_config(
        "multi",
        model_server.url,
        f"[[scenario:multistep]] {marker}",
        task=f"{site}/page",
        tools=tools,
        checkpoint=checkpoint,
    )
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_OK
    summary = agent.termination()
    assert summary["reason"] == "Completed"
    assert summary["result"].strip() == "word count: 5"
    assert summary["steps"] == 3
    roles = [message["role"] for message in transcript(checkpoint)]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    sent = model_server.requests(marker)
    assert [entry["step"] for entry in sent] == [0, 1, 2]
    assert sent[0]["tools"] == ["http_get", "run_program"]


@pytest.mark.parametrize("scenario", ["flaky429", "flaky500"])
def test_retryable_errors_are_retried_with_backoff(model_server, runtimes, make_config, marker, scenario):
    agent = runtimes(
        make_config("flaky", model_server.url, f"[[scenario:{scenario}]] {marker}", task="go")
    ).start()

    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert agent.termination()["result"] == "recovered"
    sent = model_server.requests(marker)
    assert [entry["status"] for entry in sent] == [int(scenario[-3:]), int(scenario[-3:]), 200]
    if scenario == "flaky429":  # Retry-After: 0.3 is a floor under the (much shorter) jittered backoff
        gaps = [later["time"] - earlier["time"] for earlier, later in itertools.pairwise(sent)]
        assert min(gaps) >= 0.29


def test_provider_down_past_the_retry_bound_exits_model_unavailable(
    model_server, runtimes, make_config, marker
):
    config = make_config("down", model_server.url, f"[[scenario:unavailable]] {marker}", task="go")
    config["model"]["retry"] = {"maxAttempts": 3, "initialBackoffSeconds": 0.01, "maxRetryAfterSeconds": 0.05}
    config["onDependencyOutage"] = "exit"  # the opt-in crash-and-restart policy
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_MODEL_UNAVAILABLE
    summary = agent.termination()
    assert summary["reason"] == "ModelUnavailable"
    assert "after 3 attempts" in summary["message"]
    assert len(model_server.requests(marker)) == 3


def test_a_hanging_provider_times_out_and_counts_as_unavailable(model_server, runtimes, make_config, marker):
    config = make_config("hang", model_server.url, f"[[scenario:hang]] {marker}", task="go")
    config["model"] |= {"timeoutSeconds": 0.3, "retry": {"maxAttempts": 2, "initialBackoffSeconds": 0.01}}
    config["onDependencyOutage"] = "exit"
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_MODEL_UNAVAILABLE
    assert "timeout" in agent.termination()["message"]


def test_malformed_model_output_goes_back_to_the_model(model_server, runtimes, make_config, marker, tmp_path):
    checkpoint = tmp_path / "m.ckpt"
    crashing_program = {"name": "run_program", "settings": {"command": ["sh", "-c", "kill -SEGV $$"]}}
    config = make_config(
        "malformed",
        model_server.url,
        f"[[scenario:malformed]] {marker}",
        task="go",
        tools=[{"name": "finish"}, crashing_program],
        checkpoint=checkpoint,
    )
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert agent.termination()["result"] == "survived"
    feedback = [m["content"] for m in transcript(checkpoint) if m["role"] in ("tool", "user")][1:]
    assert "not valid JSON" in feedback[0]
    assert "unknown tool 'no_such_tool'" in feedback[1]
    assert "bad arguments for finish" in feedback[2] and "result" in feedback[2]
    assert "killed by signal SIGSEGV" in feedback[3]
    assert "empty" in feedback[4]


def test_token_budget_exhaustion_exits_with_its_own_code(model_server, runtimes, make_config, marker):
    config = make_config(
        "budget",
        model_server.url,
        f"[[scenario:tokens]] {marker}",
        task="count",
        tools=[WORD_COUNT],
        budgets={"maxTokens": 30},
    )
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_BUDGET_EXHAUSTED
    summary = agent.termination()
    assert summary["reason"] == "BudgetExhausted"
    assert "token budget (30)" in summary["message"]
    assert len(model_server.requests(marker)) < 4


def test_max_steps_ends_the_task(model_server, runtimes, make_config, marker):
    config = make_config(
        "steps",
        model_server.url,
        f"[[scenario:tokens]] {marker}",
        task="count",
        tools=[WORD_COUNT],
        maxSteps=2,
    )
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_BUDGET_EXHAUSTED
    assert "maxSteps (2)" in agent.termination()["message"]
    assert len(model_server.requests(marker)) == 2


def test_crash_tool_exits_with_crash_requested(model_server, runtimes, make_config, marker):
    config = make_config(
        "crashy", model_server.url, f"[[scenario:crash]] {marker}", task="x", tools=[{"name": "crash"}]
    )
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_CRASH_REQUESTED
    assert agent.termination()["reason"] == "CrashRequested"


def test_invalid_config_exits_config_invalid_naming_the_field(model_server, runtimes, make_config, marker):
    config = make_config("bad", model_server.url, marker, task="x", tools=[{"name": "teleport"}])
    config["maxSteps"] = 0
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_CONFIG_INVALID
    message = agent.termination()["message"]
    assert "tools[0]: unknown tool 'teleport'" in message
    assert "maxSteps:" in message


def test_missing_api_key_env_is_a_config_error(model_server, runtimes, make_config, marker):
    config = make_config("nokey", model_server.url, marker, task="x")
    config["model"]["apiKeyEnv"] = "SURELY_UNSET_API_KEY"
    agent = runtimes(config).start()

    assert agent.wait_exit() == exitcodes.EXIT_CONFIG_INVALID
    assert "model.apiKeyEnv" in agent.termination()["message"]


def test_finished_task_is_not_run_again_after_a_restart(
    model_server, runtimes, make_config, marker, tmp_path
):
    config = make_config(
        "once",
        model_server.url,
        f"[[scenario:finish]] {marker}",
        task="job",
        tools=[{"name": "finish"}],
        checkpoint=tmp_path / "once.ckpt",
    )
    agent = runtimes(config).start()
    assert agent.wait_exit() == exitcodes.EXIT_OK

    agent.start()
    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert agent.termination()["result"] == "done: job"
    assert len(model_server.requests(marker)) == 1


def test_resume_false_starts_clean(model_server, runtimes, make_config, marker, tmp_path):
    config = make_config(
        "fresh",
        model_server.url,
        f"[[scenario:finish]] {marker}",
        task="job",
        tools=[{"name": "finish"}],
        checkpoint=tmp_path / "fresh.ckpt",
    )
    agent = runtimes(config).start()
    assert agent.wait_exit() == exitcodes.EXIT_OK

    agent.write_config({**config, "resume": False})
    agent.start()
    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert len(model_server.requests(marker)) == 2


def test_sigint_is_handled_like_sigterm(model_server, runtimes, make_config, marker):
    agent = runtimes(make_config("svc", model_server.url, marker)).start().wait_ready()
    agent.signal(signal.SIGINT)
    assert agent.wait_exit(10) == exitcodes.EXIT_OK
