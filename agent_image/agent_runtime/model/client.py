"""The model client: one `complete()` = one chat completion, retried within the configured bound."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from agent_runtime import tls
from agent_runtime.config import ModelConfig
from agent_runtime.model.backoff import backoff_delay, retry_after_from_headers
from agent_runtime.model.errors import (
    ContextOverflowError,
    ModelRejectedError,
    ModelUnavailableError,
    QuotaExceededError,
    is_context_overflow,
    is_quota_exhausted,
)
from agent_runtime.model.types import Completion, MalformedResponseError, parse_completion

if TYPE_CHECKING:
    # Imported where it is used: importing httpx costs start-up time before /readyz that nothing needs.
    import httpx

_RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
_ERROR_TEXT: Final = 300

RetryHook = Callable[[str, float], None]
"""Called before each retry with the failure reason and the pause about to be taken."""


class _Retry:
    """A retryable failure of one attempt."""

    def __init__(self, reason: str, retry_after: float | None = None, fingerprint: str | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        self.fingerprint = fingerprint
        """Status and body of an internal server error, to notice the same error coming back."""


class _SameErrors:
    """How many times running the same error came back."""

    def __init__(self) -> None:
        self._last: str | None = None
        self._times = 0

    def count(self, fingerprint: str | None) -> int:
        self._times = self._times + 1 if fingerprint is not None and fingerprint == self._last else 1
        self._last = fingerprint
        return self._times


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
            timeout = httpx.Timeout(config.read_timeout_seconds, connect=config.connect_timeout_seconds)
            self._client = httpx.AsyncClient(
                base_url=config.endpoint,
                headers=headers,
                timeout=timeout,
                transport=self._transport,
                verify=tls.client_context(),
                event_hooks=self._event_hooks,
            )
        return self._client

    def request_body(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": max_output_tokens or self.config.max_output_tokens,
            **self.config.parameters,
            "model": self.config.name,
            "messages": messages,
        }
        if tools:
            body["tools"] = tools
            # OpenAI's default, said out loud: llama-cpp-python ignores `tools` without it.
            body.setdefault("tool_choice", "auto")
        else:
            body.pop("tool_choice", None)
        return body

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        max_output_tokens: int | None = None,
    ) -> Completion:
        """One chat completion; `max_output_tokens` overrides the configured output limit (and the timeout
        that follows from it) for this call."""
        body = self.request_body(messages, tools, max_output_tokens)
        timeout = None
        if max_output_tokens is not None and self.config.timeout_seconds is None:
            timeout = self.config.model_copy(
                update={"max_output_tokens": max_output_tokens}
            ).read_timeout_seconds
        policy = self.config.retry
        same = _SameErrors()
        for attempt in range(1, policy.max_attempts + 1):
            result = await self._attempt(body, timeout)
            if isinstance(result, Completion):
                return result
            # The same explained 500 again and again: a server failing deterministically on this request
            # (a parse error at temperature 0) fails it every time, so it is a rejection, not an outage.
            times = same.count(result.fingerprint)
            if (
                result.fingerprint
                and policy.reject_after_same_errors
                and times >= policy.reject_after_same_errors
            ):
                raise ModelRejectedError(
                    f"model provider {self.config.endpoint} rejected the request the same way "
                    f"{times} times: {result.fingerprint}"
                )
            if attempt == policy.max_attempts:
                raise ModelUnavailableError(
                    f"model provider {self.config.endpoint} unavailable after {attempt} attempts: "
                    f"{result.reason}",
                    reason=result.reason,
                    retry_after=result.retry_after,
                )
            delay = backoff_delay(policy, attempt, result.retry_after, self._rng)
            if self._on_retry:
                self._on_retry(result.reason, delay)
            await self._sleep(delay)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _attempt(self, body: dict[str, Any], read_timeout: float | None) -> Completion | _Retry:
        """One HTTP call: the completion, or a retryable failure; raises for a rejection."""
        import httpx

        started = time.perf_counter()
        try:
            if read_timeout is None:
                response = await self._http.post("/chat/completions", json=body)
            else:
                timeout = httpx.Timeout(read_timeout, connect=self.config.connect_timeout_seconds)
                response = await self._http.post("/chat/completions", json=body, timeout=timeout)
        except httpx.TimeoutException:
            return _Retry("timeout")
        except httpx.TransportError as err:
            return _Retry(f"connection error ({type(err).__name__})")
        finally:
            self.last_call_seconds = time.perf_counter() - started
        status = response.status_code
        if status == 200:
            try:
                return parse_completion(response.json())
            except (ValueError, MalformedResponseError) as err:
                return _Retry(f"malformed response ({err})")
        text = response.text[:_ERROR_TEXT]
        rejected = f"model provider {self.config.endpoint} rejected the request: HTTP {status}: {text}"
        if is_quota_exhausted(status, response.text):
            raise QuotaExceededError(f"{rejected} (quota used up: waiting does not help)")
        if is_context_overflow(status, response.text):
            raise ContextOverflowError(rejected)
        if status in _RETRYABLE_STATUS:
            # Only a 500 that explains itself can be told apart from a flaky one by its body.
            fingerprint = f"HTTP {status}: {text}" if status == 500 and text.strip() else None
            return _Retry(f"HTTP {status}", retry_after_from_headers(response.headers), fingerprint)
        raise ModelRejectedError(rejected)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
