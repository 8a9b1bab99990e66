"""Prometheus metrics of one agent process (own registry, so nothing global leaks between instances)."""

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent_runtime.token_window import Verdict

BudgetReader = Callable[[], tuple[int, Verdict | None]]
"""Tokens used in the rolling hour now, and the hourly budget's verdict (None without a budget)."""

_STEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self, agent: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"agent": agent}
        r = self.registry
        self.steps = Counter("agent_steps", "Completed steps (model call plus its tool calls).", registry=r)
        self.tasks = Counter("agent_tasks", "Finished tasks by outcome.", ["outcome"], registry=r)
        self.tokens = Counter(
            "agent_tokens",
            "Model tokens by direction (in=prompt, out=completion).",
            ["direction"],
            registry=r,
        )
        self.model_retries = Counter(
            "agent_model_retries", "Model call retries by reason.", ["reason"], registry=r
        )
        self.truncated_replies = Counter(
            "agent_model_truncated_replies",
            "Model replies cut off at the output limit (finish_reason length).",
            registry=r,
        )
        self.tool_calls = Counter(
            "agent_tool_calls", "Tool calls by tool and outcome.", ["tool", "outcome"], registry=r
        )
        self.messages_in = Counter(
            "agent_messages_received", "Messages received by kind.", ["kind"], registry=r
        )
        self.messages_duplicate = Counter(
            "agent_messages_duplicate", "Messages ignored as duplicates.", registry=r
        )
        self.dependency_available = Gauge(
            "agent_dependency_available",
            "1 while a dependency answers, 0 while it is unavailable past its retries (an outage).",
            ["dependency"],
            registry=r,
        )
        self.inbox_depth = Gauge("agent_inbox_depth", "Messages waiting in the inbox.", registry=r)
        self.step_seconds = Histogram(
            "agent_step_duration_seconds", "Wall time of one step.", buckets=_STEP_BUCKETS, registry=r
        )
        self.model_seconds = Histogram(
            "agent_model_call_duration_seconds",
            "Wall time of one model call.",
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.checkpoint_seconds = Histogram(
            "agent_checkpoint_duration_seconds",
            "Time to persist a checkpoint.",
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.budget_exhaustions = Counter(
            "agent_token_budget_exhaustions",
            "Token budgets exhausted, by budget (per_task: a task ended; per_hour: the agent paused or its "
            "task ended).",
            ["budget"],
            registry=r,
        )
        self._hourly = _HourlyTokens()
        r.register(self._hourly)
        self.info = Gauge(
            "agent_config_revision_info",
            "The applied config revision (value is always 1).",
            ["agent", "revision"],
            registry=r,
        )
        self._agent = labels["agent"]

    def set_revision(self, revision: str) -> None:
        self.info.clear()
        self.info.labels(agent=self._agent, revision=revision).set(1)

    def watch_hourly_tokens(self, reader: BudgetReader) -> None:
        """Read the rolling hour at each scrape: the window slides between steps, a set value would not."""
        self._hourly.reader = reader

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HourlyTokens(Collector):
    def __init__(self) -> None:
        self.reader: BudgetReader | None = None

    def describe(self) -> list[Metric]:
        return []  # the families depend on the config (no remaining budget without a budget)

    def collect(self) -> Iterator[Metric]:
        if self.reader is None:
            return
        used, verdict = self.reader()
        yield GaugeMetricFamily(
            "agent_hourly_tokens_used", "Prompt + completion tokens of model calls in the rolling hour.", used
        )
        if verdict is not None:
            yield GaugeMetricFamily(
                "agent_hourly_token_budget_remaining",
                "Tokens left of the hourly budget (budgets.maxTokensPerHour); 0 while the agent is paused.",
                verdict.left,
            )
