"""The agent's durable state: what a checkpoint holds and a restarted agent resumes from."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_runtime.messages import AgentMessage

CHECKPOINT_FORMAT = 1
ChatMessage = dict[str, Any]
"""One OpenAI chat message (role, content, tool_calls, tool_call_id) exactly as sent to the model."""


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskState(_State):
    """One task: the configured task of a task agent, or one inbox message of a service agent."""

    id: str
    prompt: str
    source: AgentMessage | None = Field(default=None, description="The inbox message this task answers.")
    callers: list[AgentMessage] = Field(default_factory=list, description="Calls owed the task's result.")
    messages: list[ChatMessage]
    step: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    elapsed_seconds: float = 0.0
    outcome: Literal["running", "finished", "budget_exhausted", "failed"] = "running"
    result: str | None = None
    settled: bool = Field(default=False, description="Replies owed and completion counted (done once).")

    @property
    def done(self) -> bool:
        return self.outcome != "running"


class Outgoing(_State):
    """A reply owed to a caller; kept durable until delivered so a crash does not lose it."""

    to: str
    message: AgentMessage
    attempts: int = 0


class AgentState(_State):
    format: int = CHECKPOINT_FORMAT
    agent: str
    task: TaskState | None = None
    inbox: list[AgentMessage] = Field(default_factory=list)
    outbox: list[Outgoing] = Field(default_factory=list)
    handled: dict[str, str | None] = Field(
        default_factory=dict,
        description="Recently accepted message ids -> the reply sent for them (None while not answered).",
    )
    steps_total: int = 0
    tokens_in_total: int = 0
    tokens_out_total: int = 0
    tasks_completed: int = 0
    hourly_tokens: list[tuple[int, int]] = Field(
        default_factory=list,
        description="The rolling hour's token use as (bucket start, tokens) pairs "
        "(agent_runtime.token_window), checkpointed so that a restart, or a crash loop, "
        "does not reset the hourly budget.",
    )
