"""One step's model call: kept within the model's context, and recovered from a tool call cut short.

- Before the call the oldest tool results are elided beyond `context.maxTokens`; while the provider reports a
  context overflow the oldest one left is elided and the request sent again (ContextOverflowError when nothing
  is left to elide).
- A reply whose tool call the output limit cut short is asked for again, once, with twice the limit.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_runtime import context_budget, tracing
from agent_runtime.config import RuntimeConfig
from agent_runtime.model import Completion, ContextOverflowError, ModelClient
from agent_runtime.state import ChatMessage


@dataclass
class ModelTurn:
    completion: Completion
    model_seconds: float
    """Time spent in model calls (a turn may make more than one)."""
    elided: bool = False
    """Old tool results of the conversation were elided to fit the context."""


class _Caller:
    def __init__(self, model: ModelClient, schemas: list[dict[str, Any]], config: RuntimeConfig) -> None:
        self.model = model
        self.schemas = schemas
        self.config = config
        self.seconds = 0.0
        self.elided = False

    async def call(self, messages: list[ChatMessage], max_output_tokens: int | None = None) -> Completion:
        if context_budget.fit(messages, self.config.context):
            self.elided = True
        while True:
            try:
                limit = max_output_tokens or self.config.model.max_output_tokens
                with tracing.model_call(self.config.model.name, messages, limit) as span:
                    completion = await self.model.complete(messages, self.schemas, max_output_tokens)
                    tracing.model_answered(span, completion)
            except ContextOverflowError as err:
                self.seconds += self.model.last_call_seconds
                if not context_budget.elide_oldest_result(messages):
                    raise ContextOverflowError(
                        "the conversation does not fit the model's context even with every tool result "
                        f"elided: {err}"
                    ) from err
                self.elided = True
                continue
            self.seconds += self.model.last_call_seconds
            return completion


async def call_model(
    model: ModelClient,
    messages: list[ChatMessage],
    schemas: list[dict[str, Any]],
    config: RuntimeConfig,
    on_truncated: Callable[[], None],
) -> ModelTurn:
    """The step's completion; `messages` may have old tool results elided (see `ModelTurn.elided`)."""
    caller = _Caller(model, schemas, config)
    completion = await caller.call(messages)
    if completion.cut_calls:
        on_truncated()
        retried = await caller.call(messages, 2 * config.model.max_output_tokens)
        completion = retried.plus_usage(completion.usage)
    return ModelTurn(completion, caller.seconds, caller.elided)
