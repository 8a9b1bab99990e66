"""The tool registry: builds the configured tools and turns one model tool call into one result.

Everything the model can get wrong (unknown tool, arguments that are not JSON, arguments that do not match the
tool) and everything an in-process tool can fail with becomes an error result for the model, never a crash.
"""

import json
import logging
from typing import Any

from pydantic import ValidationError

from agent_runtime.config import ToolSpec
from agent_runtime.model.types import ToolCall
from agent_runtime.tool_settings import (
    TOOL_SETTINGS,
    AskAgentSettings,
    HttpGetSettings,
    PeerSettings,
    RunProgramSettings,
    ToolSettings,
)
from agent_runtime.tools.base import (
    CrashRequestedError,
    Tool,
    ToolArguments,
    ToolContext,
    ToolError,
    ToolResult,
    Toolset,
)
from agent_runtime.tools.control import CrashTool, FinishTool
from agent_runtime.tools.http_get import HttpGetTool
from agent_runtime.tools.messaging import AskAgentTool, Messenger, SendMessageTool
from agent_runtime.tools.program import RunProgramTool

log = logging.getLogger(__name__)

__all__ = ["Messenger", "ToolRegistry", "build_registry"]


def _make(name: str, settings: ToolSettings, messenger: Messenger) -> Tool[Any]:
    match settings:
        case AskAgentSettings():
            return AskAgentTool(settings, messenger)
        case PeerSettings():
            return SendMessageTool(settings, messenger)
        case HttpGetSettings():
            return HttpGetTool(settings)
        case RunProgramSettings():
            return RunProgramTool(settings)
    if name == "crash":
        return CrashTool()
    return FinishTool()


def build_registry(specs: list[ToolSpec], messenger: Messenger, mcp: Toolset | None = None) -> "ToolRegistry":
    tools = {
        spec.name: _make(spec.name, TOOL_SETTINGS[spec.name].model_validate(spec.settings), messenger)
        for spec in specs
    }
    return ToolRegistry(tools, mcp)


def _argument_problems(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or 'arguments'}: {detail['msg']}"
        for detail in err.errors(include_url=False)
    )


class ToolRegistry:
    def __init__(self, tools: dict[str, Tool[Any]], mcp: Toolset | None = None) -> None:
        self._tools = tools
        self._mcp = mcp
        """Shared with the agent, which owns its sessions: closing the registry leaves them open."""
        self._schemas: list[dict[str, Any]] | None = None  # the same every step: built once

    @property
    def names(self) -> list[str]:
        return list(self._tools) + (self._mcp.names if self._mcp is not None else [])

    def schemas(self) -> list[dict[str, Any]]:
        if self._schemas is None:
            self._schemas = [tool.schema() for tool in self._tools.values()]
        if self._mcp is None:
            return self._schemas
        return self._schemas + self._mcp.schemas()

    async def aclose(self) -> None:
        for tool in self._tools.values():
            await tool.aclose()

    async def call(self, call: ToolCall, context: ToolContext) -> ToolResult:
        tool = self._tools.get(call.name)
        mcp = self._mcp if tool is None and self._mcp is not None and self._mcp.owns(call.name) else None
        if tool is None and mcp is None:
            available = ", ".join(self.names) or "none"
            return ToolResult(
                f"error: unknown tool {call.name!r}; available tools: {available}", is_error=True
            )
        try:
            raw = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as err:
            return ToolResult(f"error: arguments of {call.name} are not valid JSON: {err}", is_error=True)
        if not isinstance(raw, dict):
            return ToolResult(f"error: arguments of {call.name} must be a JSON object", is_error=True)
        if mcp is not None:
            return await mcp.call(call.name, raw)
        assert tool is not None
        try:
            args: ToolArguments = tool.arguments.model_validate(raw)
        except ValidationError as err:
            return ToolResult(
                f"error: bad arguments for {call.name}: {_argument_problems(err)}", is_error=True
            )
        try:
            return await tool.run(args, context)
        except ToolError as err:
            return ToolResult(f"error: {err}", is_error=True)
        except CrashRequestedError:
            raise
        except Exception as err:  # a bug in one tool must not take the agent down
            log.exception("tool %s failed", call.name)
            return ToolResult(
                f"error: tool {call.name} failed unexpectedly: {type(err).__name__}", is_error=True
            )
