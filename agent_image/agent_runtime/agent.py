"""The agent loop: model call -> tool calls -> append results -> checkpoint, one step at a time.

All state changes happen on the event loop between awaits, and a step's new messages are committed in one
synchronous block after the step, so every checkpoint holds only whole steps. Config reloads, inbox hand-off
and stop requests are all looked at only at step boundaries.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from agent_runtime import context_budget, exitcodes, token_window, tracing
from agent_runtime.checkpoint import CheckpointError, CheckpointStore
from agent_runtime.config import ConfigError, RuntimeConfig
from agent_runtime.conversation import sanitise
from agent_runtime.events import EventBus
from agent_runtime.mcp import McpToolset
from agent_runtime.messages import AgentMessage
from agent_runtime.metrics import Metrics
from agent_runtime.model import Completion, ModelClient, ModelRejectedError, ModelUnavailableError, ToolCall
from agent_runtime.model_turn import call_model
from agent_runtime.outage import MODEL, Dependencies, endpoint_host
from agent_runtime.peers import DeliveryError, PeerClient
from agent_runtime.persistence import Persister
from agent_runtime.state import AgentState, ChatMessage, Outgoing, TaskState
from agent_runtime.token_window import Verdict
from agent_runtime.tools import ToolContext, ToolRegistry, ToolResult, build_registry

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)

HANDLED_IDS_KEPT: Final = 1000
OUTBOX_ATTEMPTS: Final = 5
EMPTY_REPLY_NUDGE: Final = "(runtime) Your reply was empty. Answer, or call one of the tools."
TRUNCATED_NUDGE: Final = (
    "(runtime) Your reply was cut off at the output limit. Continue it, or give a shorter answer."
)
CUT_CALL: Final = (
    "error: your call to {name} was cut off at the output limit before its arguments were complete; "
    "it did not run. Call it again with shorter arguments."
)
Phase = Literal[
    "starting",
    "idle",
    "calling_model",
    "running_tools",
    "waiting_for_dependency",
    "waiting_for_budget",
    "draining",
    "finished",
]
Clock = Callable[[], float]
ModelFactory = Callable[[RuntimeConfig], ModelClient]


class StepInterruptedError(Exception):
    """A wait for a dependency inside a step was ended by a stop or a new config: the step is abandoned
    (nothing of it is committed) and run again from its start."""


@dataclass(frozen=True)
class Exit:
    """How the process ends: exit code plus the termination-message summary."""

    code: int
    message: str
    result: str | None = None

    @property
    def reason(self) -> str:
        return exitcodes.reason_for(self.code)


def _describe(message: AgentMessage) -> str:
    return f"[message from {message.sender}]\n{message.content}"


class Agent:
    def __init__(
        self,
        config: RuntimeConfig,
        store: CheckpointStore,
        model_factory: ModelFactory,
        peers: PeerClient,
        metrics: Metrics,
        events: EventBus,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.state = AgentState(agent=config.agent.name)
        self.phase: Phase = "starting"
        self.last_error: str | None = None
        self.pending_config: RuntimeConfig | None = None
        self.ready = False
        self._persister = Persister(
            store, config.checkpoint.max_bytes, lambda: self.state, metrics.checkpoint_seconds.observe
        )
        self._model_factory = model_factory
        self._model = model_factory(config)
        self._peers = peers
        self._metrics = metrics
        self._events = events
        self._wake = asyncio.Event()
        self._interrupt = asyncio.Event()
        """Ends an outage's wait early: a stop, or a new config (perhaps a new endpoint) to try at once."""
        self.dependencies = Dependencies(events, metrics)
        self._mcp = McpToolset(self.dependencies)
        self._mcp.wait_for_server = self._wait_for_server
        self._mcp_started = False
        self._tools: ToolRegistry = build_registry(config.tools, peers, self._mcp)
        self._stopping = False
        self._settled = asyncio.Event()
        """Set once this process's start is over: ready, or stopping or ended before it was."""
        self._outbox_task: asyncio.Task[None] | None = None
        self._traced_task: str | None = None
        self._task_span: Span | None = None
        self._clock = clock
        """Wall-clock time of the hourly token window: it is checkpointed, so it must outlive the process."""
        self._budget_paused = False
        metrics.set_revision(config.revision)
        metrics.watch_hourly_tokens(lambda: (self.hourly_tokens_used(), self.hourly_budget()))

    # ----- start-up --------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Resume from the last checkpoint, or start clean when `resume: false` (OTP's fresh restart)."""
        if not self.config.resume:
            await self._start_fresh()
        elif (saved := await self._persister.load()) is not None:
            if saved.agent != self.config.agent.name:
                raise ConfigError(
                    f"checkpoint belongs to agent {saved.agent!r}, not {self.config.agent.name!r}; "
                    "fix checkpoint.configMapName/path"
                )
            self.state = saved
            self._sanitise_checkpoint()
            self._refresh_system_prompt()  # the config may have changed while the agent was down
            self._metrics.inbox_depth.set(len(saved.inbox))
            log.info("resumed from checkpoint at step %d", saved.task.step if saved.task else 0)
        # MCP sessions open in the background: Ready does not wait for them (messages are durable in the
        # inbox meanwhile); the first step does, within each server's startWaitSeconds.
        self._mcp.update(self.config.mcp_servers)
        self._events.publish("started", mode=self.config.mode, revision=self.config.revision)
        self.ready = True
        self._settled.set()
        self._kick_outbox()

    async def _start_fresh(self) -> None:
        """`resume: false`: everything of the last incarnation goes but its token window, so that a crash
        loop cannot reset the hourly budget. An unreadable checkpoint is discarded whole."""
        unreadable = False
        try:
            saved = await self._persister.load()
        except CheckpointError:
            saved, unreadable = None, True
        if saved is not None and saved.agent == self.config.agent.name and saved.hourly_tokens:
            # The fresh state with the window replaces the stored one whole: no clear before it.
            self.state.hourly_tokens = saved.hourly_tokens
            self._persister.changed()
            await self._persister.persist()
        elif saved is not None or unreadable:
            await self._persister.clear()

    # ----- requests from the HTTP API and the config watcher ---------------------------------------

    def request_reload(self, config: RuntimeConfig) -> None:
        """Queue a config for the next step boundary; raises ConfigError for changes that need a new pod."""
        if config.mode != self.config.mode:
            raise ConfigError(
                "task: setting or removing the task changes the agent's mode; it needs a new pod"
            )
        self.pending_config = config
        self._wake.set()
        self._interrupt.set()

    async def wait_settled(self, seconds: float) -> None:
        """Return once the start is over (ready, or stopping or ended first), or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), seconds)

    def request_stop(self) -> None:
        self._stopping = True
        self.ready = False
        self._settled.set()
        self._events.publish("draining")
        self._wake.set()
        self._interrupt.set()

    async def accept(self, message: AgentMessage) -> bool:
        """Take a message into the inbox and return once it is durable; False for a duplicate."""
        self._metrics.messages_in.labels(kind=message.kind).inc()
        self._events.publish("message", id=message.id, sender=message.sender, kind=message.kind)
        if message.kind == "reply":
            if not self._peers.accept_reply(message):
                log.info("reply %s arrived with nobody waiting for it", message.correlation_id)
            return True
        if message.id in self.state.handled:
            self._metrics.messages_duplicate.inc()
            reply = self.state.handled[message.id]
            if message.kind == "call" and reply is not None:
                self._owe_reply(message, reply)  # the caller may have lost the first reply in a crash
                await self._persister.persist()
                self._kick_outbox()
            return False
        self.state.handled[message.id] = None
        while len(self.state.handled) > HANDLED_IDS_KEPT:
            del self.state.handled[next(iter(self.state.handled))]
        self.state.inbox.append(message)
        self._metrics.inbox_depth.set(len(self.state.inbox))
        self._persister.changed()
        self._wake.set()
        await self._persister.persist()
        return True

    # ----- the loop --------------------------------------------------------------------------------

    async def run(self) -> Exit:
        try:
            if self.config.mode == "task":
                return await self._run_task_agent()
            return await self._run_service_agent()
        finally:
            self.ready = False
            self._settled.set()
            self._end_task_span(None)  # a stop or a crash leaves the task unfinished in this process

    def _new_task(self, task_id: str, prompt: str, source: AgentMessage | None) -> TaskState:
        callers = [source] if source is not None and source.kind == "call" else []
        user = _describe(source) if source is not None else prompt
        return TaskState(
            id=task_id,
            prompt=prompt,
            source=source,
            callers=callers,
            messages=[
                {"role": "system", "content": self.config.system_prompt},
                {"role": "user", "content": user},
            ],
        )

    def _configured_task(self) -> TaskState:
        """The task agent's task; a task text changed by a reload (or while down) starts afresh."""
        assert self.config.task is not None
        task = self.state.task
        if task is None or task.prompt != self.config.task:
            task = self.state.task = self._new_task("task", self.config.task, None)
            self._persister.changed()
        return task

    async def _run_task_agent(self) -> Exit:
        task = self._configured_task()
        while not task.done:
            if self._stopping:
                return await self._drained()
            self._apply_pending_config()
            task = self._configured_task()
            self._inject_inbox(task)
            if self._within_budget(task):
                try:
                    await self._step_through_outages(task)
                except ModelRejectedError as err:
                    # Sending the same request again cannot help: the task fails, durably, so a restart
                    # reports the failure instead of resending the request (no crash loop).
                    self.record_error(str(err))
                    self._end(task, "failed", f"model rejected the task's request: {err}")
        await self._settle(task)
        self.phase = "finished"
        if task.outcome == "finished":
            return Exit(exitcodes.EXIT_OK, "task finished", task.result)
        if task.outcome == "failed":
            return Exit(exitcodes.EXIT_MODEL_REJECTED, task.result or "model rejected the task's request")
        return Exit(exitcodes.EXIT_BUDGET_EXHAUSTED, task.result or "budget exhausted")

    async def _run_service_agent(self) -> Exit:
        while True:
            self._apply_pending_config()
            if self._stopping:
                return await self._drained()
            if await self._paused_for_budget():
                continue
            task = self.state.task
            if task is None:
                if not self.state.inbox:
                    self.phase = "idle"
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                message = self.state.inbox.pop(0)
                self._metrics.inbox_depth.set(len(self.state.inbox))
                task = self.state.task = self._new_task(message.id, message.content, message)
            if self._within_budget(task):
                try:
                    await self._step_through_outages(task)
                except ModelRejectedError as err:
                    # One poisonous message must not crash-loop a service agent: answer it with the error.
                    self.record_error(str(err))
                    self._end(task, "failed", f"error: {err}")
            if task.done:
                # Dropping the task and owing its replies land in the same checkpoint write.
                self.state.task = None
                await self._settle(task)

    async def persist(self) -> None:
        await self._persister.persist()

    async def _drained(self) -> Exit:
        self.phase = "draining"
        await self._persister.persist()
        return Exit(exitcodes.EXIT_OK, "stopped on SIGTERM; state checkpointed")

    def _within_budget(self, task: TaskState) -> bool:
        """False (and the task ended) when the next step would exceed maxSteps or a budget."""
        config = self.config
        tokens = task.tokens_in + task.tokens_out
        if task.step >= config.max_steps:
            problem = f"maxSteps ({config.max_steps}) reached"
        elif config.budgets.max_tokens is not None and tokens >= config.budgets.max_tokens:
            problem = f"token budget ({config.budgets.max_tokens}) used up: {tokens} tokens"
            self._metrics.budget_exhaustions.labels(budget="per_task").inc()
            self._events.publish(
                "budget_exhausted",
                budget="perTask",
                limit=config.budgets.max_tokens,
                used=tokens,
                task=task.id,
            )
        elif config.budgets.max_seconds is not None and task.elapsed_seconds >= config.budgets.max_seconds:
            problem = f"time budget ({config.budgets.max_seconds:g}s) used up"
        elif config.mode == "task" and (hourly := self.hourly_budget()) is not None and hourly.exhausted:
            # A service agent pauses instead (_paused_for_budget). A task agent ends its task: exit 3, which
            # its supervisor does not restart when transient (a task failed, not a crash).
            problem = f"hourly token budget ({hourly.limit}) used up: {hourly.used} tokens in the last hour"
            self._announce_exhausted("perHour", hourly)
        else:
            return True
        self._end(task, "budget_exhausted", f"budget exhausted before the task finished: {problem}")
        self._persister.changed()
        return False

    # ----- the hourly token budget ------------------------------------------------------------------

    def now(self) -> float:
        """The wall-clock time the budgets are judged at."""
        return self._clock()

    def hourly_tokens_used(self) -> int:
        return token_window.used(self.state.hourly_tokens, self._clock())

    def hourly_budget(self) -> Verdict | None:
        """The hourly budget now; None when the config sets none."""
        limit = self.config.budgets.max_tokens_per_hour
        return None if limit is None else token_window.judge(self.state.hourly_tokens, self._clock(), limit)

    def budget_refusal(self) -> Verdict | None:
        """The exhausted hourly budget new messages are refused for (HTTP 429); None while it has room."""
        verdict = self.hourly_budget()
        return verdict if verdict is not None and verdict.exhausted else None

    def _announce_exhausted(self, budget: str, verdict: Verdict) -> None:
        assert verdict.frees_at is not None
        self._metrics.budget_exhaustions.labels(budget="per_hour").inc()
        self._events.publish(
            "budget_exhausted",
            budget=budget,
            limit=verdict.limit,
            used=verdict.used,
            freesAt=round(verdict.frees_at, 3),
            retryAfterSeconds=verdict.retry_after(self._clock()),
        )
        log.warning(
            "hourly token budget %d used up (%d tokens in the last hour); frees in %ds",
            verdict.limit,
            verdict.used,
            verdict.retry_after(self._clock()),
        )

    async def _paused_for_budget(self) -> bool:
        """A service agent over its hourly budget pauses between steps (its task keeps its place, its inbox
        stays durable) and resumes when the window frees: no exit, so no restart and no intensity spent.
        True after a pause (the caller looks at stops and reloads again); False when it may go on."""
        verdict = self.hourly_budget()
        if verdict is None or not verdict.exhausted:
            if self._budget_paused:
                self._budget_paused = False
                used = self.hourly_tokens_used()
                limit = self.config.budgets.max_tokens_per_hour
                self._events.publish("budget_available", budget="perHour", limit=limit, used=used)
                log.info("hourly token budget available again (%d tokens in the last hour)", used)
            return False
        assert verdict.frees_at is not None
        if not self._budget_paused:
            self._budget_paused = True
            self._announce_exhausted("perHour", verdict)
        self.phase = "waiting_for_budget"
        # A stop or a reload (perhaps a larger budget) ends the wait, as does a message accepted because the
        # window freed meanwhile (the clock is read, not the timer, to decide).
        self._interrupt.clear()
        self._wake.clear()
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {interrupted, woken},
                timeout=max(0.0, verdict.frees_at - self._clock()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            interrupted.cancel()
            woken.cancel()
        return True

    def _end(
        self, task: TaskState, outcome: Literal["finished", "budget_exhausted", "failed"], result: str
    ) -> None:
        task.outcome = outcome
        task.result = result
        self._persister.changed()

    async def _run_call(self, call: ToolCall, context: ToolContext, completion: Completion) -> ToolResult:
        if call in completion.cut_calls:
            return ToolResult(CUT_CALL.format(name=call.name), is_error=True)
        return await self._tools.call(call, context)

    def _record_truncation(self, task: TaskState) -> None:
        """A reply cut off at the output limit: counted, and told to /v1/events subscribers."""
        self._metrics.truncated_replies.inc()
        self._events.publish("truncated", task=task.id, step=task.step)

    async def _step_through_outages(self, task: TaskState) -> None:
        """One step; a model outage past the retries is waited out here under `onDependencyOutage: wait`.

        Nothing of an unfinished step is committed, so retrying it later keeps the task's place exactly. The
        wait returns early on a stop or a new config; the loop then looks at both at the step boundary.
        """
        self._interrupt.clear()
        try:
            await self._step(task)
        except StepInterruptedError:
            return
        except ModelUnavailableError as err:
            if self.config.on_dependency_outage == "exit":
                raise
            model = self.config.model
            outage = self.dependencies.unavailable(MODEL, endpoint_host(model.endpoint), err.reason)
            delay = self.dependencies.next_wait(outage, model.retry, err.retry_after)
            self.phase = "waiting_for_dependency"
            log.warning("model unavailable (%s); trying again in %.1fs", err.reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._interrupt.wait(), delay)
            return
        self.dependencies.available(MODEL)

    async def _wait_for_server(self, dependency: str, back: Callable[[], Awaitable[None]]) -> bool:
        """A tool call needs an MCP server without a session. Under `onDependencyOutage: wait` the call waits
        for it (the step keeps its place: the model is not asked again); under `exit` it does not wait and the
        model sees an error result (the server is a supervised child: its own restarts are its supervisor's
        business). A stop or a new config ends the wait and abandons the step."""
        if self.config.on_dependency_outage == "exit":
            return False
        phase, self.phase = self.phase, "waiting_for_dependency"
        log.warning("%s unavailable; the tool call waits for it", dependency)
        returned = asyncio.ensure_future(back())
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        try:
            await asyncio.wait({returned, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            came_back = returned.done() and not returned.cancelled()
        finally:
            returned.cancel()
            interrupted.cancel()
            self.phase = phase
        if not came_back:
            raise StepInterruptedError(dependency)
        log.info("%s is back; the tool call goes on", dependency)
        return True

    def _task_trace(self, task: TaskState) -> "Span | None":
        """The open span of `task` in this process, started at its first step here."""
        if self._traced_task != task.id:
            self._end_task_span(None)  # a task agent's task replaced by a new task text
            carrier = task.source.trace_context if task.source is not None else None
            self._task_span = tracing.start_task(task.id, self.config.agent.name, carrier)
            self._traced_task = task.id
        return self._task_span

    def _end_task_span(self, outcome: str | None) -> None:
        tracing.end_task(self._task_span, outcome)
        self._task_span = self._traced_task = None

    async def _step(self, task: TaskState) -> None:
        with tracing.step(self._task_trace(task), task.step):
            await self._traced_step(task)

    async def _traced_step(self, task: TaskState) -> None:
        if not self._mcp_started:
            self.phase = "starting"
            await self._mcp.wait_started()
            self._mcp_started = True
        started = time.perf_counter()
        self.phase = "calling_model"
        turn = await call_model(
            self._model,
            task.messages,
            self._tools.schemas(),
            self.config,
            lambda: self._record_truncation(task),
        )
        if turn.elided:
            self._persister.changed()
            log.info("old tool results were elided to fit the model's context")
        completion, model_seconds = turn.completion, turn.model_seconds
        self._metrics.model_seconds.observe(model_seconds)
        new_messages: list[ChatMessage] = [completion.assistant_message()]
        finish: str | None = None
        if not completion.tool_calls:
            if completion.truncated:
                new_messages.append({"role": "user", "content": TRUNCATED_NUDGE})
            elif completion.content and completion.content.strip():
                finish = completion.content
            else:
                new_messages.append({"role": "user", "content": EMPTY_REPLY_NUDGE})
        if completion.truncated:
            log.info("the model's reply was cut off at the output limit (finish_reason length)")
            self._record_truncation(task)
        self.phase = "running_tools"
        cap = self.config.context.max_tool_result_chars
        for index, call in enumerate(completion.tool_calls):
            context = ToolContext(self.config.agent.name, task.id, task.step, index)
            with tracing.tool_call(call.name, call.id, call.arguments) as span:
                result = await self._run_call(call, context, completion)
                tracing.tool_returned(span, result.content, result.is_error)
            outcome = "error" if result.is_error else "ok"
            self._metrics.tool_calls.labels(tool=call.name, outcome=outcome).inc()
            content = context_budget.cap_result(result.content, cap)
            new_messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
            if result.finish_result is not None:
                finish = result.finish_result
        # Commit the whole step at once: nothing above changed durable state (but for old tool results elided
        # to fit the context, which leaves every step whole).
        elapsed = time.perf_counter() - started
        task.messages.extend(new_messages)
        task.step += 1
        task.tokens_in += completion.usage.prompt_tokens
        task.tokens_out += completion.usage.completion_tokens
        task.elapsed_seconds += elapsed
        if finish is not None:
            self._end(task, "finished", finish)
        state = self.state
        state.steps_total += 1
        state.tokens_in_total += completion.usage.prompt_tokens
        state.tokens_out_total += completion.usage.completion_tokens
        state.hourly_tokens = token_window.record(
            state.hourly_tokens,
            self._clock(),
            completion.usage.prompt_tokens + completion.usage.completion_tokens,
        )
        self._persister.changed()
        await self._persister.persist()
        self._metrics.steps.inc()
        self._metrics.tokens.labels(direction="in").inc(completion.usage.prompt_tokens)
        self._metrics.tokens.labels(direction="out").inc(completion.usage.completion_tokens)
        self._metrics.step_seconds.observe(elapsed)
        self._events.publish(
            "step",
            task=task.id,
            step=task.step,
            tools=[call.name for call in completion.tool_calls],
            tokensIn=completion.usage.prompt_tokens,
            tokensOut=completion.usage.completion_tokens,
            seconds=round(elapsed, 6),
            modelSeconds=round(model_seconds, 6),
            revision=self.config.revision,
            truncated=completion.truncated,
            done=task.done,
        )

    async def _settle(self, task: TaskState) -> None:
        """A finished task: owe its callers the result, remember it for duplicates, make it durable (once)."""
        if task.settled:
            return
        task.settled = True
        if self._traced_task == task.id:
            self._end_task_span(task.outcome)
        result = task.result or ""
        for caller in task.callers:
            self._owe_reply(caller, result)
            self.state.handled[caller.id] = result
        self.state.tasks_completed += 1
        self._metrics.tasks.labels(outcome=task.outcome).inc()
        self._events.publish("task_finished", task=task.id, outcome=task.outcome, result=result)
        self._persister.changed()
        await self._persister.persist()
        self._kick_outbox()

    def _inject_inbox(self, task: TaskState) -> None:
        """A task agent reads messages that arrive while it works as extra user turns at the next step."""
        if not self.state.inbox:
            return
        for message in self.state.inbox:
            task.messages.append({"role": "user", "content": _describe(message)})
            if message.kind == "call":
                task.callers.append(message)
        self.state.inbox.clear()
        self._metrics.inbox_depth.set(0)
        self._persister.changed()

    # ----- replies owed to callers -----------------------------------------------------------------

    def _owe_reply(self, call: AgentMessage, content: str) -> None:
        assert call.reply_to is not None  # AgentMessage guarantees it for calls
        reply = AgentMessage(
            id=f"{call.id}/reply",
            sender=self.config.agent.name,
            content=content,
            kind="reply",
            correlation_id=call.call_id,
        )
        self.state.outbox.append(Outgoing(to=call.reply_to, message=reply))
        self._persister.changed()

    async def drain_outbox(self, timeout_seconds: float) -> None:
        """Give owed replies a bounded chance to go out before exiting (they stay durable anyway)."""
        if self._outbox_task is not None and not self._outbox_task.done():
            await asyncio.wait({self._outbox_task}, timeout=timeout_seconds)

    def _kick_outbox(self) -> None:
        if self.state.outbox and (self._outbox_task is None or self._outbox_task.done()):
            self._outbox_task = asyncio.create_task(self._flush_outbox())

    async def _flush_outbox(self) -> None:
        pause = 0.5
        while self.state.outbox:
            item = self.state.outbox[0]
            try:
                await self._peers.deliver(item.to, item.message)
            except DeliveryError as err:
                item.attempts += 1
                if item.attempts < OUTBOX_ATTEMPTS:
                    await asyncio.sleep(pause)
                    pause *= 2
                    continue
                self.record_error(f"reply to {item.to!r} undeliverable: {err}")
            self.state.outbox.pop(0)
            self._persister.changed()
            await self._persister.persist()

    # ----- hot reload ------------------------------------------------------------------------------

    def _apply_pending_config(self) -> None:
        new = self.pending_config
        if new is None:
            return
        self.pending_config = None
        old = self.config
        # Identity and the checkpoint store are fixed for the life of the process.
        new = new.model_copy(update={"agent": old.agent, "checkpoint": old.checkpoint})
        self.config = new
        if new.model != old.model:
            stale = self._model
            self._model = self._model_factory(new)
            asyncio.get_running_loop().create_task(stale.aclose())
        if new.tools != old.tools or new.peers != old.peers:
            stale_tools = self._tools
            self._tools = build_registry(new.tools, self._peers, self._mcp)
            asyncio.get_running_loop().create_task(stale_tools.aclose())
        if new.mcp_servers != old.mcp_servers:
            self._mcp.update(new.mcp_servers)  # unchanged servers keep their sessions
        self._refresh_system_prompt()
        self._metrics.set_revision(new.revision)
        self._events.publish("config_applied", revision=new.revision)
        log.info("applied config revision %s", new.revision)

    def _sanitise_checkpoint(self) -> None:
        """A saved conversation may hold what broke a server (see agent_runtime.conversation): repair it."""
        task = self.state.task
        if task is None:
            return
        repaired = sanitise(task.messages)
        if repaired != task.messages:
            task.messages = repaired
            self._persister.changed()
            log.warning("the checkpoint's conversation held turns servers refuse; they were repaired")

    def _refresh_system_prompt(self) -> None:
        task = self.state.task
        if task is not None and task.messages and task.messages[0].get("role") == "system":
            task.messages[0] = {"role": "system", "content": self.config.system_prompt}
            self._persister.changed()

    # ----- reporting -------------------------------------------------------------------------------

    def record_error(self, message: str) -> None:
        self.last_error = message
        self._events.publish("error", message=message)
        log.warning("%s", message)

    def status(self) -> dict[str, Any]:
        task = self.state.task
        return {
            "agent": self.config.agent.name,
            "namespace": self.config.agent.namespace,
            "mode": self.config.mode,
            **self._progress(),
            "currentTask": None
            if task is None
            else {"id": task.id, "prompt": task.prompt[:500], "outcome": task.outcome, "result": task.result},
            "lastError": self.last_error,
            "mcpServers": self._mcp.status(),
            "dependencies": self.dependencies.report(),
        }

    def _progress(self) -> dict[str, Any]:
        """What both /v1/status and the token-free /v1/summary report: phase, counters and revisions."""
        task = self.state.task
        return {
            "phase": self.phase,
            "ready": self.ready,
            "step": task.step if task else 0,
            "stepsTotal": self.state.steps_total,
            "tokensIn": self.state.tokens_in_total,
            "tokensOut": self.state.tokens_out_total,
            "tokenBudget": self._budget_status(),
            "tasksCompleted": self.state.tasks_completed,
            "inboxDepth": len(self.state.inbox),
            "configRevision": self.config.revision,
            "pendingRevision": self.pending_config.revision if self.pending_config else None,
        }

    def _budget_status(self) -> dict[str, Any]:
        """The budgets and the rolling hour's use, as /v1/status reports them (the operator reads them)."""
        budgets = self.config.budgets
        report: dict[str, Any] = {
            "perTask": budgets.max_tokens,
            "perHour": budgets.max_tokens_per_hour,
            "usedInWindow": self.hourly_tokens_used(),
            "leftInWindow": None,
            "exhausted": False,
            "freesAt": None,
        }
        verdict = self.hourly_budget()
        if verdict is not None:
            report |= {"leftInWindow": verdict.left, "exhausted": verdict.exhausted}
            if verdict.frees_at is not None:
                report["freesAt"] = round(verdict.frees_at, 3)
        return report

    def summary(self) -> dict[str, Any]:
        """What anyone who can reach the pod may read, without the messaging token (the Observer does, through
        the API server's service proxy): phase, counters and revisions, and the current task's id and outcome.
        No prompt, result or error text: those carry what users and tools said, which /v1/status guards."""
        task = self.state.task
        return {
            **self._progress(),
            "currentTask": None if task is None else {"id": task.id, "outcome": task.outcome},
        }

    async def aclose(self) -> None:
        if self._outbox_task is not None:
            self._outbox_task.cancel()
        await self._model.aclose()
        await self._tools.aclose()
        await self._mcp.aclose()
