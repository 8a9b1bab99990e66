"""How a provider's answer is classified: outage (retry), rejection (do not), and the kinds of rejection."""

import re
from typing import Final

_CONTEXT_OVERFLOW: Final = re.compile(
    r"context_length_exceeded|exceed_context_size|ContextWindowExceeded|maximum context length"
    r"|context (?:length|size|window)",
    re.IGNORECASE,
)
_QUOTA: Final = re.compile(r"insufficient_quota|exceeded your current quota", re.IGNORECASE)


class ModelUnavailableError(Exception):
    """Every attempt failed with a retryable error (429, 5xx, timeout, connection error, garbage body)."""

    def __init__(self, message: str, reason: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        """The last failure, without the endpoint (e.g. `HTTP 503`): safe for status and events."""
        self.retry_after = retry_after
        """The pause the provider last asked for, if it said."""


class ModelRejectedError(Exception):
    """The provider refused the request itself (e.g. 400, 401, 404, or the same 500 every time): sending the
    same request again cannot help."""


class ContextOverflowError(ModelRejectedError):
    """The conversation does not fit the model's context; shortening it can help."""


class QuotaExceededError(ModelRejectedError):
    """The account's quota is used up (a 429 that waiting a moment does not fix)."""


def is_context_overflow(status: int, text: str) -> bool:
    return status in (400, 413, 422) and _CONTEXT_OVERFLOW.search(text) is not None


def is_quota_exhausted(status: int, text: str) -> bool:
    return status in (402, 429) and _QUOTA.search(text) is not None
