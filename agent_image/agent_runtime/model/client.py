"""The model client: one `complete()` = one chat completion, retried within the configured bound."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from agent_runtime.config import ModelConfig
from agent_runtime.model.backoff import backoff_delay, retry_after_seconds
from agent_runtime.model.types import Completion, MalformedResponseError, parse_completion

if TYPE_CHECKING:
    # Imported where it is used: importing httpx costs start-up time before /readyz that nothing needs.
    import httpx

_RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))

RetryHook = Callable[[str, float], None]
"""Called before each retry with the failure reason and the pause about to be taken."""


class ModelUnavailableError(Exception):
    """Every attempt failed with a retryable error (429, 5xx, timeout, connection error, garbage body)."""


class ModelRejectedError(Exception):
    """The provider refused the request itself (e.g. 400, 401, 404): retrying the same request cannot help."""


class ModelClient:
    def __init__(
        self,
        config: ModelConfig,
        api_key: str | None,
        on_retry: RetryHook | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        event_hooks: dict[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        self.config = config
        self._api_key = api_key
        self._transport = transport
        self._event_hooks = event_hooks
        self._client: httpx.AsyncClient | None = None
        self._on_retry = on_retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.last_call_seconds = 0.0

    @property
    def _http(self) -> httpx.AsyncClient:
        # Made at the first call, not at start-up: an httpx client loads the system's CA bundle (about 50 ms),
        # which would delay /readyz for a model that is only called later.
        if self._client is None:
            import httpx

            config = self.config
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            timeout = httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds)
            self._client = httpx.AsyncClient(
                base_url=config.endpoint,
                headers=headers,
                timeout=timeout,
                transport=self._transport,
                event_hooks=self._event_hooks,
            )
        return self._client

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Completion:
        body: dict[str, Any] = {**self.config.parameters, "model": self.config.name, "messages": messages}
        if tools:
            body["tools"] = tools
        policy = self.config.retry
        for attempt in range(1, policy.max_attempts + 1):
            result, retry_after = await self._attempt(body)
            if isinstance(result, Completion):
                return result
            failure = result
            if attempt == policy.max_attempts:
                raise ModelUnavailableError(
                    f"model provider {self.config.endpoint} unavailable after {attempt} attempts: {failure}"
                )
            delay = backoff_delay(policy, attempt, retry_after, self._rng)
            if self._on_retry:
                self._on_retry(failure, delay)
            await self._sleep(delay)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _attempt(self, body: dict[str, Any]) -> tuple[Completion | str, float | None]:
        """One HTTP call: the completion, or a retryable failure reason plus any Retry-After."""
        import httpx

        started = time.perf_counter()
        try:
            response = await self._http.post("/chat/completions", json=body)
        except httpx.TimeoutException:
            return "timeout", None
        except httpx.TransportError as err:
            return f"connection error ({type(err).__name__})", None
        finally:
            self.last_call_seconds = time.perf_counter() - started
        if response.status_code in _RETRYABLE_STATUS:
            return f"HTTP {response.status_code}", retry_after_seconds(response.headers.get("retry-after"))
        if response.status_code != 200:
            raise ModelRejectedError(
                f"model provider {self.config.endpoint} rejected the request: HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            return parse_completion(response.json()), None
        except (ValueError, MalformedResponseError) as err:
            return f"malformed response ({err})", None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
