"""A whole agent (scripted model, in this process) calling MCP tools through its config."""

from agent_runtime.modelserver.scenarios import Scenario
from tests.runtime.inprocess import config, run_task
from tests.runtime.mcp.servers import demo_server, serving

SCENARIOS = {
    "mcp": Scenario.model_validate(
        {
            "steps": [
                {"toolCalls": [{"name": "demo__add", "arguments": {"a": 2, "b": 40}}]},
                {"toolCalls": [{"name": "demo__add", "arguments": {"a": "two"}}]},
                {"toolCalls": [{"name": "demo__broken", "arguments": {}}]},
                {"reply": "the sum was {last_tool}"},
            ]
        }
    )
}


async def test_the_model_calls_an_mcp_tool_and_sees_its_real_result():
    async with serving(demo_server().streamable_http_app()) as url:
        runtime = config("mcp", mcpServers=[{"name": "demo", "url": url, "allowedTools": ["add", "broken"]}])
        run = await run_task(SCENARIOS, runtime)
    assert run.exit.code == 0, run.exit.message
    offered = {tool["function"]["name"] for tool in run.requests[0]["tools"]}
    assert offered == {"demo__add", "demo__broken"}
    results = [message["content"] for message in run.messages if message["role"] == "tool"]
    assert results[0] == "42"
    assert results[1].startswith("error: bad arguments for demo__add")
    assert results[2].startswith("error: ") and "the tool broke" in results[2]
    assert run.exit.result == f"the sum was {results[2]}"
