"""OpenAI-compatible chat completions client with bounded, jittered retries."""

from agent_runtime.model.client import ModelClient, ModelRejectedError, ModelUnavailableError
from agent_runtime.model.types import Completion, ToolCall, Usage

__all__ = ["Completion", "ModelClient", "ModelRejectedError", "ModelUnavailableError", "ToolCall", "Usage"]
