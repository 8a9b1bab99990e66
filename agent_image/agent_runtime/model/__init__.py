"""OpenAI-compatible chat completions client with bounded, jittered retries."""

from agent_runtime.model.client import ModelClient
from agent_runtime.model.errors import (
    ContextOverflowError,
    ModelRejectedError,
    ModelUnavailableError,
    QuotaExceededError,
)
from agent_runtime.model.types import Completion, ToolCall, Usage

__all__ = [
    "Completion",
    "ContextOverflowError",
    "ModelClient",
    "ModelRejectedError",
    "ModelUnavailableError",
    "QuotaExceededError",
    "ToolCall",
    "Usage",
]
