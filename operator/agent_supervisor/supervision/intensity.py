"""OTP's restart intensity (`add_restart`): at most `max_restarts` restarts within `period_seconds`.

One history per supervisor, whole seconds, newest first. The window is inclusive: a restart `period_seconds`
ago still counts. The check runs before the restart, so the restart that would exceed the limit is never
attempted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import takewhile


def window_start(now: int, period_seconds: int) -> int:
    return now - period_seconds


def record_restart(history: Sequence[int], now: int, period_seconds: int) -> list[int]:
    """The history after one more restart at `now`: entries older than the window dropped, `now` in front."""
    threshold = window_start(now, period_seconds)
    return [now, *takewhile(lambda at: at >= threshold, history)]


def within_intensity(history: Sequence[int], max_restarts: int) -> bool:
    return len(history) <= max_restarts


def restarts_in_window(history: Sequence[int], now: int, period_seconds: int) -> int:
    """How many restarts count against the intensity at `now` (for status: budget used and left)."""
    threshold = window_start(now, period_seconds)
    return sum(1 for at in history if at >= threshold)


def budget_left(history: Sequence[int], now: int, max_restarts: int, period_seconds: int) -> int:
    """How many more restarts the intensity allows at `now` (never below 0: an exceeded budget is empty)."""
    return max(0, max_restarts - restarts_in_window(history, now, period_seconds))
