"""The tool interface: a name, a description, a pydantic arguments model and an async `run`."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict


class ToolError(Exception):
    """A failure the model should see as the tool's result (and may recover from)."""


class CrashRequestedError(Exception):
    """The `crash` tool: the agent must exit with EXIT_CRASH_REQUESTED without checkpointing the step."""


class ToolArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ToolContext:
    agent: str
    task_id: str
    step: int
    call_index: int

    @property
    def message_id(self) -> str:
        """Stable id for a message this call sends: the same step slot re-run after a crash reuses it, so the
        receiver's deduplication makes the send effectively once."""
        return f"{self.agent}/{self.task_id}/{self.step}/{self.call_index}"


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False
    finish_result: str | None = None
    """Set by `finish`: the task ends after this step with this result."""


ArgsT = TypeVar("ArgsT", bound=ToolArguments)


class Tool(ABC, Generic[ArgsT]):
    name: ClassVar[str]
    arguments: type[ArgsT]
    description: str

    @abstractmethod
    async def run(self, args: ArgsT, context: ToolContext) -> ToolResult: ...

    async def aclose(self) -> None:
        """Release what the tool keeps between calls (connections); nothing by default."""
        return None

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools[]` entry."""
        parameters = self.arguments.model_json_schema()
        parameters.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


class Toolset(Protocol):
    """Tools that come and go at run time (an MCP server's), offered next to the configured ones."""

    @property
    def names(self) -> list[str]: ...

    def schemas(self) -> list[dict[str, Any]]: ...

    def owns(self, name: str) -> bool: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """The call's result; every failure is an error result, never an exception."""
        ...
