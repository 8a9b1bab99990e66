"""Tools the model can call: a registry of small, separately configured tools."""

from agent_runtime.tools.base import CrashRequestedError, Tool, ToolContext, ToolError, ToolResult
from agent_runtime.tools.registry import Messenger, ToolRegistry, build_registry

__all__ = [
    "CrashRequestedError",
    "Messenger",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "build_registry",
]
