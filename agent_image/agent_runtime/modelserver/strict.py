"""Request checks real servers make, so tests see the errors users get from them.

- llama-cpp-python's server answers 500 to an assistant turn whose `content` is null or missing (only a
  string, even "", is accepted). llama-cpp-python builds from source (about ten minutes), so its behaviour is
  reproduced here rather than run.
- llama.cpp's server answers 500 "Failed to parse tool call arguments as JSON" to an assistant tool call whose
  arguments are not JSON (recorded from llama.cpp's server, the `xllamacpp` build).
- llama.cpp's server answers 400 `exceed_context_size_error` to a prompt longer than its context (recorded).
"""

import json
from typing import Any

Problem = tuple[int, dict[str, Any]]


def _server_error(message: str) -> dict[str, Any]:
    return {"error": {"code": 500, "message": message, "type": "server_error"}}


def _assistant_problem(message: dict[str, Any]) -> Problem | None:
    if not isinstance(message.get("content"), str | list):
        return 500, _server_error("assistant message content must be a string (llama-cpp-python)")
    for call in message.get("tool_calls") or []:
        arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
        if isinstance(arguments, str):
            try:
                json.loads(arguments)
            except json.JSONDecodeError as err:
                return 500, _server_error(f"Failed to parse tool call arguments as JSON: {err}")
    return None


def request_problem(messages: list[dict[str, Any]]) -> Problem | None:
    """The status and body a strict real server answers this conversation with, or None when it is fine."""
    for message in messages:
        if message.get("role") == "assistant" and (problem := _assistant_problem(message)):
            return problem
    return None


def context_problem(prompt_tokens: int, context_tokens: int) -> Problem:
    """llama.cpp's answer to a prompt that does not fit its context."""
    return 400, {
        "error": {
            "code": 400,
            "message": f"request ({prompt_tokens} tokens) exceeds the available context size "
            f"({context_tokens} tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt_tokens,
            "n_ctx": context_tokens,
        }
    }
