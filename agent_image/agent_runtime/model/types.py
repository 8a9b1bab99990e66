"""What one chat completion gives the loop, parsed leniently from an OpenAI-compatible response."""

import json
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.conversation import json_object_text


class MalformedResponseError(Exception):
    """The provider answered 200 with a body that is not a chat completion."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """Raw JSON text as the model produced it (maybe invalid: the loop reports that to the model)."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    @property
    def truncated(self) -> bool:
        """The reply was cut off at the output limit (`max_tokens`)."""
        return self.finish_reason == "length"

    def plus_usage(self, earlier: Usage) -> "Completion":
        """This completion, with the tokens of an earlier call of the same step added to its usage."""
        usage = Usage(
            self.usage.prompt_tokens + earlier.prompt_tokens,
            self.usage.completion_tokens + earlier.completion_tokens,
        )
        return Completion(self.content, self.tool_calls, usage, self.finish_reason)

    @property
    def cut_calls(self) -> list[ToolCall]:
        """Tool calls whose arguments the output limit cut short (not a JSON object)."""
        if not self.truncated:
            return []
        return [call for call in self.tool_calls if json_object_text(call.arguments) != call.arguments]

    def assistant_message(self) -> dict[str, Any]:
        """The assistant turn to append to the conversation, in the request format every server accepts.

        Content is always a string (llama-cpp-python answers 500 to null or missing content) and tool-call
        arguments are always a JSON object's text (llama.cpp answers 500 to anything else, for every later
        request of the conversation): what the model actually sent goes to the model in the tool result.
        """
        message: dict[str, Any] = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json_object_text(call.arguments)},
                }
                for call in self.tool_calls
            ]
        return message


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def parse_completion(body: Any) -> Completion:
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponseError("response has no choices[0].message") from None
    if not isinstance(message, dict):
        raise MalformedResponseError("choices[0].message is not an object")
    content = message.get("content")
    calls = []
    for index, raw in enumerate(message.get("tool_calls") or []):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict):
            raise MalformedResponseError(f"tool_calls[{index}] has no function object")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            # Some servers send an object instead of JSON text; keep the loop's single code path.
            arguments = json.dumps(arguments if arguments is not None else {})
        calls.append(
            ToolCall(
                id=str(raw.get("id") or f"call_{index}"), name=str(function.get("name")), arguments=arguments
            )
        )
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    finish = body["choices"][0].get("finish_reason")
    return Completion(
        content=content if isinstance(content, str) else None,
        tool_calls=calls,
        usage=Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))),
        finish_reason=finish if isinstance(finish, str) else None,
    )
