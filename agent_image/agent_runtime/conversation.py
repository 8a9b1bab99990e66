"""Conversations every OpenAI-compatible server accepts: the rules a checkpoint is sanitised to on load.

What broke real servers (issue 15): assistant turns with null or missing content (llama-cpp-python: 500),
tool-call arguments that are not JSON (llama.cpp: 500 on every later request), tool results without the call
they answer, calls without a result. A conversation saved before these rules held is repaired, never resent.
"""

import json
from typing import Any, Final

ChatMessage = dict[str, Any]
MISSING_RESULT: Final = "error: no result was recorded for this call; call it again if it is still needed"


def json_object_text(arguments: Any) -> str:
    """`arguments` when it is the text of a JSON object, else `{}`."""
    if isinstance(arguments, str):
        try:
            if isinstance(json.loads(arguments), dict):
                return arguments
        except json.JSONDecodeError:
            pass
    return "{}"


def _text(content: Any) -> str | list[Any]:
    return content if isinstance(content, str | list) else ""


def _assistant(message: ChatMessage, index: int) -> ChatMessage:
    fixed: ChatMessage = {**message, "content": _text(message.get("content"))}
    calls = []
    for number, call in enumerate(message.get("tool_calls") or []):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        calls.append(
            {
                "id": str(call.get("id") or f"call_{index}_{number}"),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or "unknown"),
                    "arguments": json_object_text(function.get("arguments")),
                },
            }
        )
    fixed.pop("tool_calls", None)
    if calls:
        fixed["tool_calls"] = calls
    return fixed


def sanitise(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The conversation repaired to the rules above (equal to `messages` when nothing needed repair)."""
    out: list[ChatMessage] = []
    owed: list[str] = []  # ids of the last assistant turn's calls still without a result

    def settle_owed() -> None:
        out.extend({"role": "tool", "tool_call_id": call_id, "content": MISSING_RESULT} for call_id in owed)
        owed.clear()

    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in owed:
                continue  # answers no call of the turn before it: servers refuse such a result
            owed.remove(call_id)
            out.append({**message, "content": _text(message.get("content"))})
            continue
        settle_owed()
        if role == "assistant":
            fixed = _assistant(message, index)
            owed = [call["id"] for call in fixed.get("tool_calls", [])]
            out.append(fixed)
        else:
            out.append({**message, "content": _text(message.get("content"))})
    settle_owed()
    return out
