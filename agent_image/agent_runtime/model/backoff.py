"""How long to wait before retrying a model call: exponential with full jitter, honouring the provider's
retry headers (the standard Retry-After and the gateways' own)."""

import email.utils
import random
import re
import time
from collections.abc import Mapping
from typing import Final

from agent_runtime.config import RetryConfig

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
RATE_LIMIT_RESET_HEADERS: Final = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
LITELLM_PREFIX: Final = "llm_provider-"


def retry_after_seconds(header: str | None, now: float | None = None) -> float | None:
    """Parse Retry-After (delta-seconds or an HTTP date); None when absent or unparseable."""
    if not header:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def duration_seconds(text: str) -> float | None:
    """OpenAI's reset durations (`1m30s`, `6s`, `20ms`, `0.5s`) or plain seconds; None when unparseable."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _milliseconds(text: str | None) -> float | None:
    try:
        return None if text is None else max(0.0, float(text) / 1000)
    except ValueError:
        return None


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """The pause a provider asks for, from the first header that says it, most precise first.

    `retry-after-ms` (OpenAI, Azure), `Retry-After`, then the longest of OpenAI's `x-ratelimit-reset-*` (every
    limit must have reset). Each is also read with LiteLLM's `llm_provider-` prefix: the proxy passes the
    upstream's headers on under it (recorded from LiteLLM 1.108.7).
    """
    lowered = {key.lower(): value for key, value in headers.items()}

    def header(name: str) -> str | None:
        return lowered.get(name) or lowered.get(f"{LITELLM_PREFIX}{name}")

    if (ms := _milliseconds(header("retry-after-ms"))) is not None:
        return ms
    if (seconds := retry_after_seconds(header("retry-after"))) is not None:
        return seconds
    resets = [duration_seconds(text) for name in RATE_LIMIT_RESET_HEADERS if (text := header(name))]
    known = [reset for reset in resets if reset is not None]
    return max(known) if known else None


def backoff_delay(
    policy: RetryConfig, failed_attempts: int, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """Delay after `failed_attempts` failures (>= 1).

    Full jitter (uniform in [0, cap]) spreads agents that failed together; a provider's Retry-After is a
    floor, itself capped by `maxRetryAfterSeconds` so a hostile header cannot park the agent for hours.
    """
    cap = min(policy.max_backoff_seconds, policy.initial_backoff_seconds * 2 ** (failed_attempts - 1))
    delay = (rng or random).uniform(0, cap)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after_seconds))
    return delay
