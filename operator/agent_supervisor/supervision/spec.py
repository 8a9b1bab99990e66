"""What a supervisor is asked to supervise: the core's own small, validated input model.

The operator projects an `AgentSupervisor` (or a standalone `Agent`) onto these types, so the core depends on
nothing in `agent_supervisor.api`. Validation mirrors OTP's `check_flags`/`check_childspec` and names the
field and the fix in every error.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strategy(StrEnum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class RestartType(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class AutoShutdown(StrEnum):
    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


class ChildKind(StrEnum):
    """OTP has workers and supervisors; a worker here is an agent or a plain container (WORKER). The core
    treats both alike and only keeps them apart so that a change of kind replaces the child."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    WORKER = "worker"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShutdownPolicy(_Frozen):
    """How a child is stopped: kill at once, ask and kill after `seconds`, or wait as long as it takes."""

    mode: Literal["brutal_kill", "timeout", "infinity"]
    seconds: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _seconds_only_with_timeout(self) -> Self:
        if (self.mode == "timeout") != (self.seconds is not None):
            raise ValueError(
                "shutdown.seconds: give seconds exactly when mode is 'timeout' "
                "(use mode 'brutal_kill' or 'infinity' without seconds)"
            )
        return self

    @classmethod
    def brutal_kill(cls) -> ShutdownPolicy:
        return cls(mode="brutal_kill")

    @classmethod
    def timeout(cls, seconds: int) -> ShutdownPolicy:
        return cls(mode="timeout", seconds=seconds)

    @classmethod
    def infinity(cls) -> ShutdownPolicy:
        return cls(mode="infinity")


def default_shutdown(kind: ChildKind) -> ShutdownPolicy:
    """OTP's defaults: workers get 5000 ms to stop, child supervisors as long as their own children need."""
    return ShutdownPolicy.infinity() if kind is ChildKind.SUPERVISOR else ShutdownPolicy.timeout(5)


class Backoff(_Frozen):
    """Delay before the n-th consecutive restart of one child: initial * 2**(n-1), capped at max_seconds."""

    initial_seconds: int = Field(ge=1)
    max_seconds: int = Field(ge=1)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> Self:
        if self.max_seconds < self.initial_seconds:
            raise ValueError(
                f"backoff.max_seconds ({self.max_seconds}) is below backoff.initial_seconds "
                f"({self.initial_seconds}); raise max_seconds or lower initial_seconds"
            )
        return self


class ChildSpec(_Frozen):
    """One child in start order. `template_hash` must change exactly when the child needs a new pod."""

    name: str = Field(min_length=1)
    kind: ChildKind = ChildKind.AGENT
    restart: RestartType = RestartType.PERMANENT
    significant: bool = False
    # The factory sees the fields validated so far (kind comes first), so the default follows the kind as in
    # OTP.
    shutdown: ShutdownPolicy = Field(default_factory=lambda fields: default_shutdown(fields["kind"]))
    template_hash: str = ""

    @model_validator(mode="after")
    def _significant_is_not_permanent(self) -> Self:
        if self.significant and self.restart is RestartType.PERMANENT:
            raise ValueError(
                f"child {self.name!r}: significant is true but restart is permanent; a permanent child never "
                "exits for good, so set restart to transient or temporary, or significant to false"
            )
        return self


class SupervisorSpec(_Frozen):
    """Supervisor flags plus the ordered children. Defaults follow Elixir (3 restarts in 5 seconds)."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = Field(default=3, ge=0)
    period_seconds: int = Field(default=5, gt=0)
    auto_shutdown: AutoShutdown = AutoShutdown.NEVER
    backoff: Backoff | None = None
    children: tuple[ChildSpec, ...] = ()

    @model_validator(mode="after")
    def _children_are_consistent(self) -> Self:
        seen: set[str] = set()
        for index, child in enumerate(self.children):
            if child.name in seen:
                raise ValueError(
                    f"children[{index}].name: {child.name!r} is used twice; give each child a unique name"
                )
            seen.add(child.name)
            if child.significant and self.auto_shutdown is AutoShutdown.NEVER:
                raise ValueError(
                    f"children[{index}].significant: child {child.name!r} is significant but auto_shutdown "
                    "is 'never'; set auto_shutdown to any_significant or all_significant, or significant "
                    "to false"
                )
        return self

    @classmethod
    def standalone(
        cls,
        name: str,
        *,
        restart: RestartType = RestartType.PERMANENT,
        max_restarts: int = 3,
        period_seconds: int = 5,
        backoff: Backoff | None = None,
        shutdown: ShutdownPolicy | None = None,
        template_hash: str = "",
    ) -> SupervisorSpec:
        """A standalone Agent: an implicit one_for_one supervisor whose only child is the agent itself."""
        child = ChildSpec(
            name=name,
            restart=restart,
            shutdown=default_shutdown(ChildKind.AGENT) if shutdown is None else shutdown,
            template_hash=template_hash,
        )
        return cls(
            strategy=Strategy.ONE_FOR_ONE,
            max_restarts=max_restarts,
            period_seconds=period_seconds,
            backoff=backoff,
            children=(child,),
        )
