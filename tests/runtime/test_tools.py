"""Tools in isolation: http_get's allowlist and size cap, run_program as a separate process, the registry."""

import time

import pytest

from agent_runtime.config import ToolSpec
from agent_runtime.model.types import ToolCall
from agent_runtime.tool_settings import HttpGetSettings, RunProgramSettings
from agent_runtime.tools import CrashRequestedError, ToolContext, build_registry
from agent_runtime.tools.http_get import HttpGetArguments, HttpGetTool
from agent_runtime.tools.program import RunProgramArguments, RunProgramTool
from tests.runtime.conftest import loopback_http_get

CONTEXT = ToolContext(agent="a", task_id="t", step=0, call_index=0)


def http_get(site: str, **settings: object) -> HttpGetTool:
    """The tool allowed to reach the local test site (on loopback, so opted into explicitly)."""
    return HttpGetTool(HttpGetSettings.model_validate({**loopback_http_get(site), **settings}))


async def fetch(tool: HttpGetTool, url: str):
    return await tool.run(HttpGetArguments(url=url), CONTEXT)


async def test_allowed_host_is_fetched(site: str) -> None:
    result = await fetch(http_get(site), f"{site}/page")
    assert (result.content, result.is_error) == ("one two three four five", False)


async def test_other_hosts_are_blocked(site: str) -> None:
    tool = http_get(site)
    blocked = await build_registry_call(tool, f"http://localhost:{site.rsplit(':', 1)[1]}/page")
    port = site.rsplit(":", 1)[1]
    assert blocked == f"error: host 'localhost' is not allowed; allowed hosts: 127.0.0.1:{port}"


async def test_redirect_to_a_blocked_host_is_blocked(site: str) -> None:
    assert "host 'localhost' is not allowed" in await build_registry_call(http_get(site), f"{site}/away")


async def test_body_is_cut_at_the_cap_and_errors_are_marked(site: str) -> None:
    big = await fetch(http_get(site, maxBytes=100), f"{site}/big")
    assert big.content == "x" * 100 + "\n[truncated at 100 bytes]"
    missing = await fetch(http_get(site), f"{site}/missing")
    assert missing.is_error and missing.content.startswith("HTTP 404")


async def build_registry_call(tool: HttpGetTool, url: str) -> str:
    """Run through the registry so ToolErrors become the model-visible text."""
    from agent_runtime.tools.registry import ToolRegistry

    result = await ToolRegistry({"http_get": tool}).call(
        ToolCall("1", "http_get", f'{{"url": "{url}"}}'), CONTEXT
    )
    assert result.is_error
    return result.content


def program(*command: str, **settings: object) -> RunProgramTool:
    return RunProgramTool(RunProgramSettings.model_validate({"command": list(command), **settings}))


async def test_program_gets_input_and_arguments() -> None:
    result = await program("sh", "-c", 'read line; echo "$line $0"').run(
        RunProgramArguments(input="hi\n", args=["there"]), CONTEXT
    )
    assert (result.content, result.is_error) == ("hi there\n", False)


async def test_hanging_program_is_killed_with_its_children() -> None:
    tool = program("sh", "-c", "sleep 30 & sleep 30", timeoutSeconds=0.3)
    started = time.monotonic()
    registry = _registry_with(tool)
    result = await registry.call(ToolCall("1", "run_program", "{}"), CONTEXT)
    assert result.content == "error: program timed out after 0.3s and was killed"
    assert time.monotonic() - started < 5


async def test_failing_program_is_an_error_result_with_its_output() -> None:
    result = await program("sh", "-c", "echo out; echo err >&2; exit 3").run(RunProgramArguments(), CONTEXT)
    assert result.is_error
    assert result.content == "program exited with code 3\nstdout:\nout\n\nstderr:\nerr\n"


async def test_flooding_program_output_is_capped() -> None:
    result = await program("sh", "-c", "yes | head -c 1000000", maxOutputBytes=10).run(
        RunProgramArguments(), CONTEXT
    )
    assert result.content == "y\ny\ny\ny\ny\n\n[stdout truncated]"


async def test_missing_program_and_forbidden_arguments() -> None:
    registry = _registry_with(program("/no/such/program"))
    result = await registry.call(ToolCall("1", "run_program", "{}"), CONTEXT)
    assert result.content == "error: cannot start '/no/such/program': No such file or directory"
    registry = _registry_with(program("true", allowArguments=False))
    result = await registry.call(ToolCall("1", "run_program", '{"args": ["-x"]}'), CONTEXT)
    assert "takes no arguments" in result.content


def _registry_with(tool: RunProgramTool):
    from agent_runtime.tools.registry import ToolRegistry

    return ToolRegistry({"run_program": tool})


class FakeMessenger:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def cast(self, to: str, content: str, message_id: str) -> None:
        self.sent.append((to, content, message_id))

    async def call(self, to: str, content: str, message_id: str, timeout_seconds: float) -> str:
        return f"{to} answers within {timeout_seconds:g}"


async def test_registry_builds_configured_tools_with_schemas() -> None:
    specs = [
        ToolSpec(name="send_message", settings={"allowedPeers": ["b"]}),
        ToolSpec(name="ask_agent", settings={"maxTimeoutSeconds": 5}),
        ToolSpec(name="finish"),
        ToolSpec(name="crash"),
    ]
    messenger = FakeMessenger()
    registry = build_registry(specs, messenger)

    assert registry.names == ["send_message", "ask_agent", "finish", "crash"]
    schema = registry.schemas()[0]["function"]
    assert schema["name"] == "send_message"
    assert schema["parameters"]["required"] == ["to", "content"]
    context = ToolContext(agent="a", task_id="t1", step=4, call_index=1)
    sent = await registry.call(ToolCall("x", "send_message", '{"to": "b", "content": "hi"}'), context)
    assert sent.content == "message delivered to b"
    assert messenger.sent == [("b", "hi", "a/t1/4/1")]  # stable id: a re-run step dedups at the receiver
    denied = await registry.call(ToolCall("x", "send_message", '{"to": "c", "content": "hi"}'), context)
    assert denied.content == "error: agent 'c' is not an allowed peer; allowed: b"
    asked = await registry.call(
        ToolCall("y", "ask_agent", '{"to": "b", "content": "?", "timeout": 60}'), context
    )
    assert asked.content == "b answers within 5"
    to_self = await registry.call(ToolCall("y", "ask_agent", '{"to": "a", "content": "?"}'), context)
    assert to_self.content == "error: an agent cannot message itself"
    finished = await registry.call(ToolCall("z", "finish", '{"result": "42"}'), context)
    assert finished.finish_result == "42"
    with pytest.raises(CrashRequestedError):
        await registry.call(ToolCall("z", "crash", "{}"), context)


async def test_registry_turns_model_mistakes_into_error_results() -> None:
    registry = build_registry([ToolSpec(name="finish")], FakeMessenger())
    cases = {
        ToolCall("1", "nope", "{}"): "error: unknown tool 'nope'; available tools: finish",
        ToolCall("2", "finish", "{oops"): "error: arguments of finish are not valid JSON",
        ToolCall("3", "finish", "[1]"): "error: arguments of finish must be a JSON object",
        ToolCall(
            "4", "finish", '{"result": 1}'
        ): "error: bad arguments for finish: result: Input should be a valid",
    }
    for call, expected in cases.items():
        result = await registry.call(call, CONTEXT)
        assert result.is_error and result.content.startswith(expected), result.content


async def test_program_environment_holds_only_what_its_settings_name(monkeypatch) -> None:
    monkeypatch.setenv("AGENT_MESSAGE_TOKEN", "secret-token")
    monkeypatch.setenv("AGENT_MODEL_API_KEY", "sk-secret")
    monkeypatch.setenv("UNRELATED", "x")
    tool = program("env", env={"GREETING": "hi"}, inheritEnv=["PATH"])

    result = await tool.run(RunProgramArguments(), CONTEXT)

    names = {line.split("=", 1)[0] for line in result.content.splitlines()}
    assert names == {"GREETING", "PATH"}
    assert "secret" not in result.content


def test_program_schema_offers_args_only_when_arguments_are_allowed() -> None:
    with_args = program("cat").schema()["function"]["parameters"]["properties"]
    without = program("cat", allowArguments=False).schema()["function"]["parameters"]["properties"]
    assert set(with_args) == {"input", "args"}
    assert set(without) == {"input"}


def test_program_settings_refuse_to_pass_the_runtime_secrets_on() -> None:
    with pytest.raises(ValueError, match="AGENT_MESSAGE_TOKEN"):
        RunProgramSettings.model_validate({"command": ["env"], "inheritEnv": ["AGENT_MESSAGE_TOKEN"]})


async def test_http_get_reuses_one_client_across_calls(site: str, monkeypatch) -> None:
    import httpx

    made = []
    original = httpx.AsyncClient.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting)
    tool = http_get(site)
    for _ in range(3):
        assert not (await fetch(tool, f"{site}/page")).is_error
    await tool.aclose()
    assert len(made) == 1
