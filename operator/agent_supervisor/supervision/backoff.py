"""Restart backoff: an intentional extension over OTP, off unless the spec asks for it.

OTP restarts at once, because a process starts in microseconds; a pod that crash-loops against a broken model
endpoint would burn its whole budget in seconds. With backoff the n-th consecutive restart of one child waits
initial * 2**(n-1) seconds, capped at max. The streak ends once the child has stayed Ready for max_seconds.
"""

from __future__ import annotations

from agent_supervisor.supervision.spec import Backoff

# 2**32 times any initial delay is far beyond any sensible cap; bounding the exponent keeps the arithmetic
# small.
_MAX_DOUBLINGS = 32


def restart_delay(backoff: Backoff, streak: int) -> int:
    """Seconds to wait before the `streak`-th consecutive restart (streak >= 1)."""
    doublings = min(max(streak - 1, 0), _MAX_DOUBLINGS)
    return min(backoff.initial_seconds << doublings, backoff.max_seconds)


def streak_continues(backoff: Backoff, ready_at: int | None, now: int) -> bool:
    """False when the child stayed Ready long enough that its next crash starts a fresh streak."""
    return ready_at is None or now - ready_at < backoff.max_seconds
