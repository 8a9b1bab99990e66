"""MCP tool servers: one long-lived session per server; the model sees their tools as `<server>__<tool>`."""

from agent_runtime.mcp.toolset import McpToolset

__all__ = ["McpToolset"]
