"""Issue 15: what broke the loop on real model servers, reproduced against the scripted server's strict mode.

The scripted server answers like the real ones (see agent_runtime.modelserver.strict): 500 to an assistant
turn without string content (llama-cpp-python), 500 to tool-call arguments that are not JSON (llama.cpp), 400
to a prompt over its context (llama.cpp). Each test drives one agent in this process to its exit.
"""

import json

import pytest

from agent_runtime import exitcodes
from agent_runtime.checkpoint import decode_state, encode_state
from agent_runtime.checkpoint.file_store import FileCheckpointStore
from agent_runtime.modelserver.scenarios import Failure, Scenario, ScriptedToolCall, Step
from agent_runtime.state import AgentState, TaskState
from tests.runtime.inprocess import config, run_task

FINISH = [{"name": "finish"}]


def finish_with(result: str) -> Step:
    return Step(tool_calls=[ScriptedToolCall(name="finish", arguments={"result": result})])


def assistant_turns(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "assistant"]


async def test_an_empty_reply_is_sent_back_with_empty_string_content() -> None:
    scenarios = {"empty": Scenario(steps=[Step(), Step(reply="answered")])}

    run = await run_task(scenarios, config("empty"))

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "answered")
    assert assistant_turns(run.requests[-1])[0]["content"] == ""
    assert set(run.statuses) == {200}


async def test_tool_call_arguments_cut_short_are_never_sent_back() -> None:
    cut = Step(
        tool_calls=[ScriptedToolCall(name="finish", arguments='{"result": "the answer is forty')],
        finish_reason="length",
    )
    scenarios = {"cut": Scenario(steps=[cut, finish_with("recovered")])}

    run = await run_task(scenarios, config("cut", tools=FINISH))

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "recovered")
    assert set(run.statuses) == {200}
    # Asked again once with twice the output limit; cut again, so the model is told and the loop goes on.
    assert [request["max_tokens"] for request in run.requests] == [1024, 2048, 1024]
    call = assistant_turns(run.requests[2])[0]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {}
    feedback = next(m["content"] for m in run.requests[2]["messages"] if m["role"] == "tool")
    assert "cut off" in feedback and "output limit" in feedback


async def test_a_poisoned_checkpoint_is_sanitised_on_load(tmp_path) -> None:
    poisoned = AgentState(
        agent="a",
        task=TaskState(
            id="task",
            prompt="go",
            messages=[
                {"role": "system", "content": "[[scenario:resumed]]"},
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": None},
                {"role": "user", "content": "(runtime) Your reply was empty."},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "finish", "arguments": '{"re'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": None},
                {"role": "tool", "tool_call_id": "nobody-called-this", "content": "orphan"},
            ],
            step=2,
        ),
    )
    store = FileCheckpointStore(tmp_path / "c")
    await store.save(encode_state(poisoned, 1 << 20))
    scenarios = {"resumed": Scenario(steps=[Step(), Step(), finish_with("resumed cleanly")])}

    run = await run_task(scenarios, config("resumed", tools=FINISH), store)

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "resumed cleanly")
    assert set(run.statuses) == {200}
    sent = run.requests[0]["messages"]
    assert all(isinstance(m["content"], str) for m in sent)
    assert [m.get("tool_call_id") for m in sent if m["role"] == "tool"] == ["c1"]
    saved = decode_state((tmp_path / "c").read_bytes())
    assert saved.task is not None and saved.task.messages[2]["content"] == ""


def test_sanitising_gives_every_call_a_result_and_leaves_a_good_conversation_alone() -> None:
    from agent_runtime.conversation import MISSING_RESULT, sanitise

    call = {"id": "c1", "type": "function", "function": {"name": "finish", "arguments": "{}"}}
    good = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    assert sanitise(good) == good
    unanswered = [*good[:2], {"role": "user", "content": "more"}]
    assert sanitise(unanswered) == [
        *good[:2],
        {"role": "tool", "tool_call_id": "c1", "content": MISSING_RESULT},
        {"role": "user", "content": "more"},
    ]


async def test_the_same_500_every_time_is_a_task_failure_not_an_outage() -> None:
    deterministic = Failure(status=500, times=10**9, body={"error": {"message": "boom", "code": 500}})
    scenarios = {"broken": Scenario(steps=[Step(fail=deterministic)])}

    run = await run_task(scenarios, config("broken", model={"retry": {"maxAttempts": 6}}))

    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert run.exit.reason == "ModelRejected"
    assert "boom" in run.exit.message
    assert len(run.requests) == 3  # rejected the same way three times: no point in more
    assert run.agent.state.task is not None and run.agent.state.task.outcome == "failed"


async def test_a_restart_after_a_rejection_reports_it_without_resending(tmp_path) -> None:
    deterministic = Failure(status=500, times=10**9, body={"error": {"message": "boom", "code": 500}})
    scenarios = {"broken": Scenario(steps=[Step(fail=deterministic)])}
    store = FileCheckpointStore(tmp_path / "c")
    first = await run_task(scenarios, config("broken"), store)

    again = await run_task(scenarios, config("broken"), store)

    assert first.exit.code == again.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert again.exit.message == first.exit.message
    assert again.requests == []  # the failure was checkpointed: no crash loop against the server


async def test_an_outage_still_exits_model_unavailable_when_asked_to() -> None:
    outage = Failure(status=503, times=10**9)
    down = config("down", onDependencyOutage="exit")
    run = await run_task({"down": Scenario(steps=[Step(fail=outage)])}, down)
    assert run.exit.code == exitcodes.EXIT_MODEL_UNAVAILABLE


async def test_a_reply_cut_by_the_output_limit_is_not_the_result() -> None:
    cut = Step(reply="The answer is", finish_reason="length")
    scenarios = {"long": Scenario(steps=[cut, Step(reply="The answer is 42.")])}

    run = await run_task(scenarios, config("long"))

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "The answer is 42.")
    nudge = run.requests[1]["messages"][-1]
    assert nudge["role"] == "user" and "cut off" in nudge["content"]
    steps = [event.data for event in run.events if event.type == "step"]
    assert [step["truncated"] for step in steps] == [True, False]


async def test_tool_choice_and_an_output_limit_are_always_sent() -> None:
    scenarios = {"one": Scenario(steps=[finish_with("ok")])}

    run = await run_task(scenarios, config("one", tools=FINISH))

    assert run.requests[0]["tool_choice"] == "auto"
    assert run.requests[0]["max_tokens"] == 1024
    assert run.exit.code == exitcodes.EXIT_OK


async def test_an_overflowing_tool_result_is_cut_to_the_per_result_cap(tmp_path) -> None:
    program = {"name": "run_program", "settings": {"command": ["sh", "-c", "yes word | head -c 40000"]}}
    scenarios = {
        "flood": Scenario(
            steps=[Step(tool_calls=[ScriptedToolCall(name="run_program")]), Step(reply="{last_tool}")]
        )
    }

    run = await run_task(scenarios, config("flood", tools=[program], context={"maxToolResultChars": 2000}))

    result = next(m["content"] for m in run.messages if m["role"] == "tool")
    assert len(result) < 2200 and "cut to 2000 characters" in result
    assert run.exit.code == exitcodes.EXIT_OK


async def test_context_overflow_elides_the_oldest_tool_results_and_goes_on() -> None:
    program = {"name": "run_program", "settings": {"command": ["sh", "-c", "yes word | head -n 300"]}}
    call = Step(tool_calls=[ScriptedToolCall(name="run_program")])
    scenarios = {"overflow": Scenario(steps=[call, call, call, Step(reply="fits again")], context_words=700)}

    run = await run_task(scenarios, config("overflow", tools=[program]))

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "fits again")
    results = [m["content"] for m in run.messages if m["role"] == "tool"]
    assert "elided" in results[0] and "elided" not in results[-1]
    assert 400 in run.statuses


async def test_a_context_budget_elides_before_the_model_has_to_refuse() -> None:
    program = {"name": "run_program", "settings": {"command": ["sh", "-c", "yes word | head -n 300"]}}
    call = Step(tool_calls=[ScriptedToolCall(name="run_program")])
    scenarios = {"budget": Scenario(steps=[call, call, Step(reply="within budget")], context_words=700)}

    run = await run_task(scenarios, config("budget", tools=[program], context={"maxTokens": 500}))

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "within budget")
    assert set(run.statuses) == {200}  # elided by estimate (1500 characters = 375 tokens) before sending
    assert "elided" in tool_results_of(run.requests[-1])[0]
    assert "elided" not in tool_results_of(run.requests[-1])[-1]


def tool_results_of(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


async def test_a_conversation_that_cannot_fit_fails_the_task_cleanly() -> None:
    scenarios = {"tiny": Scenario(steps=[Step(reply="never")], context_words=3)}

    run = await run_task(scenarios, config("tiny", task="a task that is longer than the whole context"))

    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert "context" in run.exit.message


@pytest.mark.parametrize(
    ("headers", "floor"),
    [
        ({"llm_provider-retry-after": "7"}, 7.0),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"x-ratelimit-reset-requests": "1m30s"}, 90.0),
        ({"x-ratelimit-reset-tokens": "6s", "x-ratelimit-reset-requests": "20ms"}, 6.0),
    ],
)
async def test_vendor_retry_headers_set_the_pause(headers: dict[str, str], floor: float) -> None:
    from agent_runtime.model.backoff import retry_after_from_headers

    assert retry_after_from_headers(headers) == pytest.approx(floor)


async def test_a_quota_429_is_not_transient() -> None:
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    scenarios = {"broke": Scenario(steps=[Step(fail=Failure(status=429, times=10**9, body=quota))])}

    run = await run_task(scenarios, config("broke"))

    assert run.exit.code == exitcodes.EXIT_MODEL_REJECTED
    assert "quota" in run.exit.message
    assert len(run.requests) == 1


def test_an_open_event_stream_ends_cleanly_when_the_agent_exits(model_server, runtimes, make_config, marker):
    import signal
    import threading

    import httpx

    agent = runtimes(make_config("watched", model_server.url, f"[[scenario:echo]] {marker}")).start()
    agent.wait_ready()
    lines: list[str] = []
    subscribed = threading.Event()

    def read() -> None:
        with httpx.stream("GET", agent.url + "/v1/events", headers=agent.headers(), timeout=30) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                subscribed.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert subscribed.wait(10)
    agent.signal(signal.SIGTERM)
    assert agent.wait_exit() == 0
    reader.join(10)

    assert not reader.is_alive()
    assert "event: closing" in lines  # the stream was ended by the runtime, not cut by the server's timeout
    for line in agent.log().splitlines():
        json.loads(line)  # nothing but JSON log lines: no traceback
