"""Polling with a deadline, for conditions no event announces (a process state, an operator reaction)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    condition: Callable[[], T | None], timeout: float, what: str = "", interval: float = 0.05
) -> T:
    """Calls `condition` until it returns something truthy and returns it; fails naming `what` at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)
