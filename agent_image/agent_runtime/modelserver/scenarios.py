"""Scenarios: what the scripted model answers, chosen and stepped through from the request alone.

Which scenario: a marker `[[scenario:NAME]]` in the last user message, else in the system prompt, else the
model name (`NAME` or `scripted:NAME`), else `echo`. Which step: the number of assistant turns in the
conversation, so a resumed agent that resends a conversation gets the same answer it would have got before.
"""

import json
import re
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

MARKER: Final = re.compile(r"\[\[scenario:([A-Za-z0-9_.-]+)\]\]")
DEFAULT_SCENARIO: Final = "echo"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ScriptedToolCall(_Model):
    name: str
    arguments: dict[str, Any] | str = Field(
        default_factory=dict, description="An object, or raw text sent as-is (e.g. deliberately broken JSON)."
    )


class Failure(_Model):
    status: int = Field(ge=400, le=599)
    times: int = Field(
        default=1, ge=1, description="The first N requests for this step of a conversation fail."
    )
    retry_after_seconds: float | None = Field(default=None, ge=0)
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra response headers (e.g. a gateway's own retry headers)."
    )
    body: dict[str, Any] | None = Field(
        default=None, description="The error body as a real server sends it; a generic one when unset."
    )


class Step(_Model):
    reply: str | None = None
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    delay_seconds: float = Field(
        default=0.0, ge=0, description="Wait before answering (a long one is a hang)."
    )
    fail: Failure | None = None
    malformed: Literal["not_json", "no_choices"] | None = Field(
        default=None, description="Answer 200 with a body that is not a chat completion."
    )
    finish_reason: Literal["stop", "length", "tool_calls"] | None = Field(
        default=None, description="Overrides the finish reason, e.g. `length` for a reply cut by max_tokens."
    )


class Scenario(_Model):
    steps: list[Step] = Field(min_length=1)
    context_words: int | None = Field(
        default=None,
        gt=0,
        description="A context in words: longer prompts get llama.cpp's 400 exceed_context_size_error.",
    )


class ScenarioFile(_Model):
    scenarios: dict[str, Scenario]


BUILTIN: Final[dict[str, Scenario]] = {
    "echo": Scenario(steps=[Step(reply="echo: {last_user}")]),
    "finish": Scenario(
        steps=[Step(tool_calls=[ScriptedToolCall(name="finish", arguments={"result": "done: {last_user}"})])]
    ),
    "crash": Scenario(
        steps=[Step(tool_calls=[ScriptedToolCall(name="crash", arguments={"reason": "scripted crash"})])]
    ),
    "hang": Scenario(steps=[Step(delay_seconds=86400, reply="too late")]),
    "unavailable": Scenario(steps=[Step(fail=Failure(status=503, times=10**9, retry_after_seconds=1))]),
}
AFTER_SCRIPT: Final = Step(reply="done")


class ScenarioFileError(Exception):
    """The scenarios file cannot be read or does not match the format."""


def load_scenarios(path: str | Path | None) -> dict[str, Scenario]:
    scenarios = dict(BUILTIN)
    if path is None:
        return scenarios
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        scenarios.update(ScenarioFile.model_validate(document).scenarios)
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioFileError(f"cannot read scenarios file {str(path)!r}: {err}") from err
    except ValidationError as err:
        problems = "; ".join(
            ".".join(str(p) for p in detail["loc"]) + f": {detail['msg']}" for detail in err.errors()
        )
        raise ScenarioFileError(f"scenarios file {str(path)!r} is invalid: {problems}") from err
    return scenarios


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _last_index(messages: list[dict[str, Any]], role: str) -> int:
    return max((i for i, message in enumerate(messages) if message.get("role") == role), default=-1)


def choose(model: str, messages: list[dict[str, Any]], scenarios: dict[str, Scenario]) -> str:
    """The scenario name for a request (see the module docstring for the order)."""
    last_user = _last_index(messages, "user")
    candidates = [_text(messages[last_user])] if last_user >= 0 else []
    candidates += [_text(m) for m in messages if m.get("role") == "system"]
    for text in candidates:
        if (found := MARKER.search(text)) and found.group(1) in scenarios:
            return found.group(1)
    name = model.removeprefix("scripted:")
    return name if name in scenarios else DEFAULT_SCENARIO


def step_index(messages: list[dict[str, Any]]) -> int:
    return sum(1 for message in messages if message.get("role") == "assistant")


def conversation_key(messages: list[dict[str, Any]]) -> str:
    """Identifies a conversation (its first user turn), so failure counts of different tasks stay apart."""
    first_user = next((_text(m) for m in messages if m.get("role") == "user"), "")
    return first_user


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _words(text: str) -> int:
    return len(text.split())


def prompt_words(messages: list[dict[str, Any]]) -> int:
    """The prompt's size as the scripted server counts tokens: words of every message's text."""
    return sum(_words(_text(m)) for m in messages)


def completion(model: str, messages: list[dict[str, Any]], step: Step, index: int) -> dict[str, Any]:
    """The chat.completion body for a step, with deterministic ids and word-count token usage."""
    last_user = _last_index(messages, "user")
    last_tool = _last_index(messages, "tool")
    values = {
        "last_user": MARKER.sub("", _text(messages[last_user])).strip() if last_user >= 0 else "",
        "last_tool": _text(messages[last_tool]) if last_tool >= 0 else "",
        "step": str(index),
    }
    message: dict[str, Any] = {"role": "assistant", "content": None}
    produced = ""
    if step.tool_calls:
        calls = []
        for number, call in enumerate(step.tool_calls):
            if isinstance(call.arguments, str):
                arguments = call.arguments
            else:
                arguments = _fill(
                    json.dumps(call.arguments), {k: json.dumps(v)[1:-1] for k, v in values.items()}
                )
            produced += " " + arguments
            calls.append(
                {
                    "id": f"call_{index}_{number}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                }
            )
        message["tool_calls"] = calls
    if step.reply is not None:
        message["content"] = _fill(step.reply, values)
        produced += " " + message["content"]
    prompt_tokens = prompt_words(messages)
    completion_tokens = _words(produced)
    finish = step.finish_reason or ("tool_calls" if step.tool_calls else "stop")
    return {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
