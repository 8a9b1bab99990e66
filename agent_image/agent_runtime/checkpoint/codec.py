"""Checkpoint encoding: JSON, gzip-compressed, capped in size.

When the compressed state exceeds the cap, long tool results are shortened (in halving rounds) until it
fits: a resumed agent then sees those results truncated, which beats losing durability or the whole task.
"""

import gzip
import json
from typing import Final

from agent_runtime.state import AgentState, ChatMessage

_TRUNCATION_MARK: Final = "\n[truncated to fit the checkpoint size cap]"
_SMALLEST_KEPT_RESULT: Final = 256


class CheckpointTooLargeError(Exception):
    """Even with tool results shortened the checkpoint does not fit `checkpoint.maxBytes`."""


def _compress(state: AgentState) -> bytes:
    # mtime=0 keeps the output a pure function of the state.
    return gzip.compress(state.model_dump_json().encode(), compresslevel=6, mtime=0)


def _shortened(messages: list[ChatMessage], keep: int) -> list[ChatMessage]:
    out = []
    for message in messages:
        content = message.get("content")
        if message.get("role") == "tool" and isinstance(content, str) and len(content) > keep:
            message = {**message, "content": content[:keep] + _TRUNCATION_MARK}
        out.append(message)
    return out


def encode_state(state: AgentState, max_bytes: int) -> bytes:
    blob = _compress(state)
    keep = 64 * 1024
    while len(blob) > max_bytes and state.task is not None and keep >= _SMALLEST_KEPT_RESULT:
        task = state.task.model_copy(update={"messages": _shortened(state.task.messages, keep)})
        blob = _compress(state.model_copy(update={"task": task}))
        keep //= 2
    if len(blob) > max_bytes:
        raise CheckpointTooLargeError(
            f"checkpoint is {len(blob)} bytes compressed, over checkpoint.maxBytes={max_bytes}; "
            "raise maxBytes or lower maxSteps"
        )
    return blob


def decode_state(blob: bytes) -> AgentState:
    return AgentState.model_validate(json.loads(gzip.decompress(blob)))
