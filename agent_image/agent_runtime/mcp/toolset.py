"""Every configured MCP server's tools, as one set the tool registry offers and calls.

Everything that can go wrong in an MCP call (a tool the config does not allow, arguments that fail the
server's JSON Schema, a tool error, a timeout) is a tool result the model sees. A server that is down is a
dependency outage: reported as `mcp:<server>` (status, events, metrics) once it has failed
OUTAGE_AFTER_FAILURES attempts in a row, and, when the agent waits out outages, a call that needs it waits
for it (`wait_for_server`) instead of answering the model with an error.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent_runtime.mcp.connection import (
    OUTAGE_AFTER_FAILURES,
    ListedTool,
    McpConnection,
    McpUnavailableError,
)
from agent_runtime.mcp.results import cut, result_text
from agent_runtime.mcp_config import TOOL_SEPARATOR, McpServerConfig
from agent_runtime.outage import Dependencies, endpoint_host
from agent_runtime.tools.base import ToolResult

ServerWaiter = Callable[[str, Callable[[], Awaitable[None]]], Awaitable[bool]]
"""Given the dependency (`mcp:<server>`) and what returns once its session is back: True once it is back,
False when outages are not waited out (the call then fails as a tool result). May raise to abandon the
step."""


def dependency_name(server: str) -> str:
    """How an MCP server is named as a dependency in status, events and metrics."""
    return f"mcp:{server}"


log = logging.getLogger(__name__)


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


class McpToolset:
    def __init__(self, dependencies: Dependencies | None = None) -> None:
        self._connections: dict[str, McpConnection] = {}
        self._schemas: list[dict[str, Any]] | None = None
        self._validators: dict[str, Any] = {}
        self._dependencies = dependencies
        self.wait_for_server: ServerWaiter | None = None
        """Set by the agent: how a call waits for a server that is down. None: it does not wait."""

    # ----- configuration ---------------------------------------------------------------------------

    def update(self, servers: list[McpServerConfig]) -> None:
        """Apply a (re)loaded `mcpServers`: unchanged servers keep their sessions, changed ones reconnect."""
        wanted = {server.name: server for server in servers}
        for name, connection in list(self._connections.items()):
            if wanted.get(name) != connection.config:
                del self._connections[name]
                asyncio.get_running_loop().create_task(connection.aclose())
                if self._dependencies is not None:
                    # No longer a dependency (or one with a new address, reported afresh): nothing waits.
                    self._dependencies.available(dependency_name(name))
        for name, server in wanted.items():
            if name not in self._connections:
                connection = McpConnection(server, self._tools_changed, self._health)
                self._connections[name] = connection
                if self._dependencies is not None:
                    self._dependencies.known(dependency_name(name))
                connection.start()
        self._tools_changed()

    async def wait_started(self) -> None:
        """Wait, each server up to its startWaitSeconds from now, until every server has listed its tools.
        A server still down after that is left to come up later: its tools appear when it does."""
        started = time.monotonic()

        async def wait(connection: McpConnection) -> None:
            left = connection.config.start_wait_seconds - (time.monotonic() - started)
            if not await connection.wait_listed(max(left, 0.0)):
                log.warning(
                    "MCP server %s has not answered within %gs; working without its tools until it does",
                    connection.config.name,
                    connection.config.start_wait_seconds,
                )

        await asyncio.gather(*(wait(c) for c in self._connections.values() if not c.state.listed_once))

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        await asyncio.gather(*(connection.aclose() for connection in connections))

    def _health(self, connection: McpConnection) -> None:
        """A connection's attempt worked or failed: an outage begins past OUTAGE_AFTER_FAILURES, ends on a
        session."""
        if self._dependencies is None or self._connections.get(connection.config.name) is not connection:
            return
        dependency = dependency_name(connection.config.name)
        state = connection.state
        if state.connected:
            self._dependencies.available(dependency)
        elif state.failures >= OUTAGE_AFTER_FAILURES:
            host = endpoint_host(connection.config.url)
            self._dependencies.unavailable(dependency, host, state.last_error or "no answer")

    # ----- what the model sees ---------------------------------------------------------------------

    def _tools_changed(self) -> None:
        self._schemas = None
        self._validators = {}

    def _offered(self) -> list[tuple[McpConnection, ListedTool]]:
        offered = []
        for connection in self._connections.values():
            allowed = connection.config.allowed_tools
            for tool in connection.state.tools.values():
                if allowed is None or tool.name in allowed:
                    offered.append((connection, tool))
        return offered

    def schemas(self) -> list[dict[str, Any]]:
        if self._schemas is None:
            self._schemas = [
                {
                    "type": "function",
                    "function": {
                        "name": f"{connection.config.name}{TOOL_SEPARATOR}{tool.name}",
                        "description": tool.description,
                        "parameters": tool.input_schema or {"type": "object", "properties": {}},
                    },
                }
                for connection, tool in self._offered()
            ]
        return self._schemas

    @property
    def names(self) -> list[str]:
        return [entry["function"]["name"] for entry in self.schemas()]

    def owns(self, name: str) -> bool:
        server, sep, _ = name.partition(TOOL_SEPARATOR)
        return bool(sep) and server in self._connections

    def status(self) -> dict[str, Any]:
        return {
            name: {
                "connected": c.state.connected,
                "tools": len(c.state.tools),
                "lastError": c.state.last_error,
                "failures": c.state.failures,
            }
            for name, c in self._connections.items()
        }

    # ----- calls -----------------------------------------------------------------------------------

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        server, _, tool_name = name.partition(TOOL_SEPARATOR)
        connection = self._connections[server]
        config = connection.config
        if config.allowed_tools is not None and tool_name not in config.allowed_tools:
            allowed = ", ".join(config.allowed_tools) or "none"
            return ToolResult(
                f"error: tool {tool_name!r} of MCP server {server!r} is not allowed; allowed: {allowed}",
                is_error=True,
            )
        while True:
            if not connection.up and await self._waited(connection):
                continue  # back: the tool list may have changed meanwhile
            tool = connection.state.tools.get(tool_name)
            if tool is None:
                if not connection.state.listed_once:
                    why = connection.state.last_error or "connecting"
                    return ToolResult(
                        f"error: MCP server {server!r} is not available yet ({why}); try again later",
                        is_error=True,
                    )
                return ToolResult(f"error: MCP server {server!r} has no tool {tool_name!r}", is_error=True)
            problem = self._argument_problem(name, tool, arguments)
            if problem is not None:
                return ToolResult(f"error: bad arguments for {name}: {problem}", is_error=True)
            try:
                result = await connection.call(tool_name, arguments)
            except TimeoutError:
                # A slow tool, not a down server: the session answered everything before this call.
                return ToolResult(
                    f"error: {name} did not answer within {config.timeout_seconds:g}s (timeoutSeconds)",
                    is_error=True,
                )
            except McpUnavailableError as err:
                if await self._waited(connection):
                    continue  # the call did not get an answer: it is sent again on the new session
                return ToolResult(
                    f"error: MCP server {server!r} is unavailable: {err}; try again later", is_error=True
                )
            except Exception as err:  # a protocol error from the server is the call's result, never a crash
                return ToolResult(f"error: {name} failed: {_message(err)}", is_error=True)
            break
        text = cut(result_text(result), config.max_result_bytes)
        if result.is_error:
            return ToolResult(f"error: {text}", is_error=True)
        return ToolResult(text)

    async def _waited(self, connection: McpConnection) -> bool:
        """Whether the call waited for the server's session to come back (False: outages are not waited
        out)."""
        if self.wait_for_server is None:
            return False
        return await self.wait_for_server(dependency_name(connection.config.name), connection.wait_up)

    def _argument_problem(self, name: str, tool: ListedTool, arguments: dict[str, Any]) -> str | None:
        if not tool.input_schema:
            return None
        validator = self._validators.get(name)
        if validator is None:
            validator = self._validators[name] = _validator(tool.input_schema)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        if not errors:
            return None
        return "; ".join(
            f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message}"
            for error in errors
        )


def _message(err: Exception) -> str:
    text = str(err)
    if "timed out" in text.lower() or "timeout" in type(err).__name__.lower():
        return f"timed out: {text}"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
