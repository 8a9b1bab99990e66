"""`send_message` (cast: fire and forget) and `ask_agent` (call: wait for the reply) address peers by name."""

from typing import Protocol

from pydantic import Field

from agent_runtime.tool_settings import AskAgentSettings, PeerSettings
from agent_runtime.tools.base import Tool, ToolArguments, ToolContext, ToolError, ToolResult


class Messenger(Protocol):
    """Delivers messages to peer agents; raises ToolError with a model-readable reason on failure."""

    async def cast(self, to: str, content: str, message_id: str) -> None: ...

    async def call(self, to: str, content: str, message_id: str, timeout_seconds: float) -> str: ...


def _check_peer(to: str, settings: PeerSettings, agent: str) -> None:
    if to == agent:
        raise ToolError("an agent cannot message itself")
    if settings.allowed_peers is not None and to not in settings.allowed_peers:
        raise ToolError(f"agent {to!r} is not an allowed peer; allowed: {', '.join(settings.allowed_peers)}")


class SendMessageArguments(ToolArguments):
    to: str = Field(description="Name of the receiving agent.")
    content: str = Field(description="The message text.")


class SendMessageTool(Tool[SendMessageArguments]):
    name = "send_message"
    arguments = SendMessageArguments
    description = "Send a message to another agent by name, without waiting for an answer."

    def __init__(self, settings: PeerSettings, messenger: Messenger) -> None:
        self._settings = settings
        self._messenger = messenger

    async def run(self, args: SendMessageArguments, context: ToolContext) -> ToolResult:
        _check_peer(args.to, self._settings, context.agent)
        await self._messenger.cast(args.to, args.content, context.message_id)
        return ToolResult(content=f"message delivered to {args.to}")


class AskAgentArguments(ToolArguments):
    to: str = Field(description="Name of the agent to ask.")
    content: str = Field(description="The question or request.")
    timeout: float | None = Field(default=None, gt=0, description="Seconds to wait for the reply.")


class AskAgentTool(Tool[AskAgentArguments]):
    name = "ask_agent"
    arguments = AskAgentArguments
    description = "Ask another agent by name and wait for its reply, which is returned as the result."

    def __init__(self, settings: AskAgentSettings, messenger: Messenger) -> None:
        self._settings = settings
        self._messenger = messenger

    async def run(self, args: AskAgentArguments, context: ToolContext) -> ToolResult:
        _check_peer(args.to, self._settings, context.agent)
        timeout = min(
            args.timeout or self._settings.default_timeout_seconds, self._settings.max_timeout_seconds
        )
        reply = await self._messenger.call(args.to, args.content, context.message_id, timeout)
        return ToolResult(content=reply)
