"""How long to wait before retrying a model call: exponential with full jitter, honouring Retry-After."""

import email.utils
import random
import time

from agent_runtime.config import RetryConfig


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
