"""Keeping a conversation within the model's context: tool results capped, the oldest ones elided first.

Only tool results are ever shortened: the system prompt, the task and the model's own turns stay whole, so
what the model decided remains readable even when what a tool returned is gone.
"""

from typing import Final

from agent_runtime.config import ContextConfig
from agent_runtime.state import ChatMessage

CHARS_PER_TOKEN: Final = 4
ELIDED: Final = "[tool result elided to fit the model's context]"


def cap_result(text: str, max_chars: int) -> str:
    """A tool result cut to `max_chars` characters, saying so."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[cut to {max_chars} characters of {len(text)}]"


def estimated_tokens(messages: list[ChatMessage]) -> int:
    """A rough prompt size: characters of every message's content and tool calls, 4 to a token."""
    chars = 0
    for message in messages:
        chars += len(str(message.get("content") or ""))
        chars += sum(len(str(call)) for call in message.get("tool_calls") or [])
    return chars // CHARS_PER_TOKEN


def elide_oldest_result(messages: list[ChatMessage]) -> bool:
    """Replace the oldest tool result not yet elided; False when there is none left to elide."""
    for index, message in enumerate(messages):
        if message.get("role") == "tool" and message.get("content") != ELIDED:
            messages[index] = {**message, "content": ELIDED}
            return True
    return False


def fit(messages: list[ChatMessage], settings: ContextConfig) -> bool:
    """Elide the oldest tool results until the estimate is within `maxTokens`; True when anything changed."""
    if settings.max_tokens is None:
        return False
    changed = False
    while estimated_tokens(messages) > settings.max_tokens and elide_oldest_result(messages):
        changed = True
    return changed
