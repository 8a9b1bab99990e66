"""Dependency outages as a state of the agent, not a crash.

A model provider that stays unavailable past the client's bounded retries cannot be fixed by restarting the
agent: the new process would meet the same outage, and every exit would spend the supervisor's restart
intensity until the tree fails. So under `onDependencyOutage: wait` the agent keeps its place (the unfinished
step is simply not committed), reports the outage (status, events, metrics) and tries again after a capped
backoff, until the provider answers.

What is reported names the dependency and its host only: never the full URL (it may carry credentials) and
never a response body.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from agent_runtime.config import RetryConfig
from agent_runtime.events import EventBus
from agent_runtime.metrics import Metrics
from agent_runtime.model.backoff import backoff_delay

MODEL: Final = "model"


def endpoint_host(endpoint: str) -> str:
    """`host[:port]` of an endpoint URL: what may be shown, without any user info or path."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


@dataclass
class Outage:
    dependency: str
    host: str
    reason: str
    since: float
    """Wall-clock time the outage was first seen."""
    waits: int = 0


class Dependencies:
    """Which dependencies are unavailable right now, told to status, events and metrics as it changes."""

    def __init__(self, events: EventBus, metrics: Metrics, rng: random.Random | None = None) -> None:
        self._events = events
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._outages: dict[str, Outage] = {}
        metrics.dependency_available.labels(dependency=MODEL).set(1)

    def known(self, dependency: str) -> None:
        """A dependency the agent now has (an MCP server in the config): its gauge reads 1 until an outage."""
        if dependency not in self._outages:
            self._metrics.dependency_available.labels(dependency=dependency).set(1)

    def unavailable(self, dependency: str, host: str, reason: str) -> Outage:
        """Record a failed attempt; the first one of an outage is announced."""
        outage = self._outages.get(dependency)
        if outage is None or outage.host != host:
            outage = self._outages[dependency] = Outage(dependency, host, reason, time.time())
            self._metrics.dependency_available.labels(dependency=dependency).set(0)
            self._events.publish("dependency_unavailable", dependency=dependency, host=host, reason=reason)
        outage.reason = reason
        return outage

    def available(self, dependency: str) -> None:
        """The dependency answered: an outage in progress ends, and is announced as ended."""
        outage = self._outages.pop(dependency, None)
        if outage is None:
            return
        self._metrics.dependency_available.labels(dependency=dependency).set(1)
        self._events.publish(
            "dependency_available",
            dependency=dependency,
            host=outage.host,
            unavailableSeconds=round(time.time() - outage.since, 3),
        )

    def next_wait(self, outage: Outage, policy: RetryConfig, retry_after: float | None) -> float:
        """The pause before the next try: the retry policy's backoff past its attempts, so it stays within
        `maxBackoffSeconds` (and a Retry-After within `maxRetryAfterSeconds`)."""
        outage.waits += 1
        return backoff_delay(policy, policy.max_attempts + outage.waits, retry_after, self._rng)

    def report(self) -> list[dict[str, Any]]:
        """The dependencies `/v1/status` lists: each one unavailable now, with since when and why."""
        return [
            {
                "name": outage.dependency,
                "available": False,
                "host": outage.host,
                "reason": outage.reason,
                "since": round(outage.since, 3),
                "waits": outage.waits,
            }
            for outage in self._outages.values()
        ]
