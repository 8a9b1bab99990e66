"""One MCP server: connect, list its tools, keep the session, reconnect with backoff when it is lost.

The session is kept for the life of the connection, not opened per call: initialising a session costs a
round trip or two, and a tool call on a live session is one POST (the overhead budget is 5 ms on loopback).

A server that is not up yet, or goes away, is retried forever with capped backoff (kagent#2255: a toolset
dropped for good because its server started late). Its tools are offered whenever it has answered a listing.
A 5xx answer to a call is a lost session too (the server is failing, not refusing this call): the session is
made again, and while that fails the server counts as unavailable. After OUTAGE_AFTER_FAILURES failed attempts
in a row its toolset reports an outage (agent_runtime.outage), which ends when a session is made again.
"""

import asyncio
import logging
import os
import random
import re
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from agent_runtime.mcp_config import McpServerConfig

if TYPE_CHECKING:
    from mcp import ClientSession, types

log = logging.getLogger(__name__)

INITIAL_BACKOFF_SECONDS: Final = 0.2
MAX_BACKOFF_SECONDS: Final = 10.0
CONNECT_TIMEOUT_SECONDS: Final = 10.0
CONNECTION_CLOSED: Final = -32000
"""The SDK's JSON-RPC code for a call on a session whose transport has ended."""
CLOSE_TIMEOUT_SECONDS: Final = 2.0
"""How long closing waits for the session's DELETE (sent as the transport closes, past the cancellation that
closes it, under the 300 s read timeout) before cancelling that too: a server or proxy that never answers it
must not hold a finished agent's exit, whose HTTP server (and so its liveness probe) is already down."""
OUTAGE_AFTER_FAILURES: Final = 3
"""Failed attempts in a row (about 0.7-1.4 s of backoff) after which the server is an outage, not a blip."""
_URL: Final = re.compile(r"\w+://[^\s'\"]+")


class McpUnavailableError(Exception):
    """The server has no live session now (not up yet, or lost); the connection keeps trying."""


@dataclass
class ListedTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class ConnectionState:
    connected: bool = False
    tools: dict[str, ListedTool] = field(default_factory=dict)
    listed_once: bool = False
    last_error: str | None = None
    """The last failure, without any URL (a query string may carry a credential)."""
    failures: int = 0
    """Failed attempts to make a session since the last one that worked."""


def _headers(config: McpServerConfig) -> dict[str, str]:
    """Header values from the environment, read at connect time; they are never logged."""
    headers = {}
    for header in config.headers:
        value = os.environ.get(header.value_env)
        if value is None:
            raise McpUnavailableError(f"header {header.name}: env var {header.value_env} is not set")
        headers[header.name] = value
    return headers


class McpConnection:
    def __init__(
        self,
        config: McpServerConfig,
        on_tools_changed: Callable[[], None],
        on_health: Callable[["McpConnection"], None] = lambda connection: None,
    ) -> None:
        self.config = config
        self.state = ConnectionState()
        self._on_tools_changed = on_tools_changed
        self._on_health = on_health
        """Told after every attempt that failed and every session made: the toolset reports outages."""
        self._session: ClientSession | None = None
        self._up = asyncio.Event()
        """Set while a session is live; what a call waiting for the server awaits."""
        self._http_failure: str | None = None
        """`HTTP <status>` of the last 5xx response: the SDK turns one into a generic JSON-RPC error."""
        self._listed = asyncio.Event()
        self._lost = asyncio.Event()
        self._relist = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"mcp:{self.config.name}")

    async def wait_listed(self, seconds: float) -> bool:
        """True once the server's tools have been listed; False when `seconds` pass first."""
        try:
            await asyncio.wait_for(self._listed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    @property
    def up(self) -> bool:
        return self._up.is_set()

    async def wait_up(self) -> None:
        """Return once a session is live (at once if one is)."""
        await self._up.wait()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_SECONDS)
        if not task.done():
            log.warning(
                "MCP server %s did not end the session within %gs; closing the connection without it",
                self.config.name,
                CLOSE_TIMEOUT_SECONDS,
            )
            task.cancel()  # the DELETE, awaited in the transport's `finally`
        await asyncio.gather(task, return_exceptions=True)

    # ----- calls -----------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> "types.CallToolResult":
        """One tool call on the live session. Raises McpUnavailableError, TimeoutError or the SDK's errors."""
        session = self._session
        if session is None:
            raise McpUnavailableError(self.state.last_error or "not connected yet")
        timeout = self.config.timeout_seconds
        self._http_failure = None
        try:
            async with asyncio.timeout(timeout):
                # The SDK's own timeout a second later: ours fires first, so a timeout always reads the same.
                return await session.call_tool(tool, arguments, read_timeout_seconds=timeout + 1)
        except (TimeoutError, asyncio.CancelledError):
            raise
        except Exception as err:
            if _is_transport_error(err) or self._http_failure is not None:
                # The session is gone (the server restarted, or its session expired) or the server is failing
                # (a 5xx): make a new one, which tells whether the server is back.
                problem = self._http_failure or _describe(err)
                self._mark_lost(problem)
                raise McpUnavailableError(f"connection lost: {problem}") from err
            raise

    # ----- the session's life ----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = INITIAL_BACKOFF_SECONDS
        while True:
            try:
                await self._session_once()
                backoff = INITIAL_BACKOFF_SECONDS  # it was up: the next try comes quickly
            except asyncio.CancelledError:
                raise
            except BaseException as err:  # anyio groups wrap anything: each is a lost session
                problem = self._http_failure or _describe(err)
                if problem != self.state.last_error:
                    log.warning("MCP server %s unavailable: %s", self.config.name, problem)
                self.state.last_error = problem
            self._session = None
            self._up.clear()
            self.state.connected = False
            self.state.failures += 1
            self._on_health(self)
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _session_once(self) -> None:
        from mcp import ClientSession

        self._lost.clear()
        self._http_failure = None
        async with AsyncExitStack() as stack:
            streams = await stack.enter_async_context(self._transport())
            session = await stack.enter_async_context(
                ClientSession(streams[0], streams[1], message_handler=self._on_message)
            )
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await session.initialize()
                await self._list(session)
            self._session = session
            self.state.connected = True
            self.state.last_error = None
            self.state.failures = 0
            self._up.set()
            self._on_health(self)
            log.info("MCP server %s connected: %d tools", self.config.name, len(self.state.tools))
            while not self._lost.is_set():
                relist = asyncio.create_task(self._relist.wait())
                lost = asyncio.create_task(self._lost.wait())
                await asyncio.wait({relist, lost}, return_when=asyncio.FIRST_COMPLETED)
                relist.cancel()
                lost.cancel()
                if self._relist.is_set():
                    self._relist.clear()
                    await self._list(session)
            raise McpUnavailableError(self.state.last_error or "connection lost")

    def _transport(self) -> Any:
        import httpx2
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client

        headers = _headers(self.config)
        if self.config.transport == "sse":
            return sse_client(self.config.url, headers=headers, timeout=CONNECT_TIMEOUT_SECONDS)
        timeout = httpx2.Timeout(CONNECT_TIMEOUT_SECONDS, read=max(300.0, self.config.timeout_seconds))
        client = httpx2.AsyncClient(
            headers=headers, timeout=timeout, event_hooks={"response": [self._note_response]}
        )
        return _Owned(client, streamable_http_client(self.config.url, http_client=client))

    async def _list(self, session: "ClientSession") -> None:
        tools: dict[str, ListedTool] = {}
        cursor: str | None = None
        while True:
            from mcp import types

            params = None if cursor is None else types.PaginatedRequestParams(cursor=cursor)
            page = await session.list_tools(params=params)
            for tool in page.tools:
                tools[tool.name] = ListedTool(tool.name, tool.description or "", dict(tool.input_schema))
            cursor = page.next_cursor
            if not cursor:
                break
        changed = tools != self.state.tools
        self.state.tools = tools
        self.state.listed_once = True
        self._listed.set()
        if changed:
            self._on_tools_changed()

    async def _on_message(self, message: Any) -> None:
        from mcp import types

        if isinstance(message, types.ToolListChangedNotification):
            self._relist.set()
        elif isinstance(message, Exception):
            self._mark_lost(self._http_failure or _describe(message))

    async def _note_response(self, response: Any) -> None:
        if response.status_code >= 500:
            self._http_failure = f"HTTP {response.status_code}"

    def _mark_lost(self, problem: str) -> None:
        self.state.last_error = problem
        self._up.clear()  # calls wait for the new session, not this dead one
        self._lost.set()


class _Owned:
    """Enter the transport, and close the HTTP client it was given when it ends (the SDK leaves it open)."""

    def __init__(self, client: Any, transport: Any) -> None:
        self._client = client
        self._transport = transport

    async def __aenter__(self) -> Any:
        return await self._transport.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._transport.__aexit__(*exc)
        finally:
            await self._client.aclose()


def _is_transport_error(err: BaseException) -> bool:
    """Whether the session itself failed (so a new one is needed), rather than the server refusing a call."""
    from mcp.shared.exceptions import MCPError

    return not isinstance(err, MCPError) or err.code == CONNECTION_CLOSED


def _describe(err: BaseException) -> str:
    """The innermost useful error of an exception group (anyio wraps transport failures in groups)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    # Reported in status and to the operator: never a URL, whose query string may carry a credential.
    text = _URL.sub("<url>", str(err))
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
