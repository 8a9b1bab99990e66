"""The wire format of `POST /v1/messages`: casts, calls and the replies to calls."""

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

MessageKind = Literal["cast", "call", "reply"]


class AgentMessage(BaseModel):
    """One message between agents (or from a person or program to an agent)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=256,
        description="Deduplication key: a message id already accepted is not processed again.",
    )
    sender: str = Field(alias="from", min_length=1, max_length=253)
    content: str
    kind: MessageKind = "cast"
    reply_to: str | None = Field(default=None, description="call: the agent name the reply is sent to.")
    correlation_id: str | None = Field(default=None, description="call/reply: pairs a reply with its call.")
    trace_context: dict[str, str] | None = Field(
        default=None,
        description="The W3C trace headers (traceparent, tracestate) the message arrived with: kept with it "
        "in the inbox so the task answering it joins the sender's trace. Sent as headers, never in the body.",
    )

    @model_validator(mode="after")
    def _routing(self) -> "AgentMessage":
        if self.kind == "call" and not self.reply_to:
            raise ValueError(
                "a call needs replyTo: the agent name its reply is sent to (or send kind 'cast')"
            )
        if self.kind == "reply" and not self.correlation_id:
            raise ValueError("a reply needs correlationId: the id of the call it answers")
        return self

    @property
    def call_id(self) -> str:
        """The correlation id a reply to this call carries."""
        return self.correlation_id or self.id

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"trace_context"})
