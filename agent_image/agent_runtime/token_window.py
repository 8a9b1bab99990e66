"""The rolling one-hour token window of an agent: pure functions over `(bucket start, tokens)` pairs.

Tokens are summed into buckets of `BUCKET_SECONDS` (wall-clock Unix seconds), so the window kept in the
checkpoint has at most WINDOW_SECONDS / BUCKET_SECONDS + 1 entries however many steps an hour has. A bucket
counts until its last second is an hour old: the window over-counts by at most one bucket, never under-counts,
so it frees at most BUCKET_SECONDS later than an exact window would. Wall-clock time, not monotonic time:
the window lives in the checkpoint and must mean the same to the next incarnation (a crash loop must not
reset it). A clock that goes back keeps the "future" buckets counted, which errs on the side of the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

WINDOW_SECONDS: Final = 3600
BUCKET_SECONDS: Final = 10

Bucket = tuple[int, int]
"""(Unix second the bucket starts, tokens used in it)."""


def _bucket_start(now: float) -> int:
    return int(now // BUCKET_SECONDS) * BUCKET_SECONDS


def _counts(start: int, now: float) -> bool:
    """Whether a bucket may still hold tokens used within the hour before `now`."""
    return start + BUCKET_SECONDS > now - WINDOW_SECONDS


def prune(window: Sequence[Bucket], now: float) -> list[Bucket]:
    """The buckets that still count at `now`, oldest first."""
    return sorted((start, tokens) for start, tokens in window if _counts(start, now) and tokens > 0)


def record(window: Sequence[Bucket], now: float, tokens: int) -> list[Bucket]:
    """`window` with `tokens` used at `now` added (and the buckets that no longer count dropped)."""
    kept = prune(window, now)
    if tokens <= 0:
        return kept
    start = _bucket_start(now)
    for index, (existing, used) in enumerate(kept):
        if existing == start:
            kept[index] = (start, used + tokens)
            return kept
    return sorted([*kept, (start, tokens)])


def used(window: Sequence[Bucket], now: float) -> int:
    """Tokens used in the hour before `now` (rounded up to whole buckets)."""
    return sum(tokens for start, tokens in prune(window, now))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The hourly budget at one moment."""

    limit: int
    used: int
    frees_at: float | None
    """Exhausted: the Unix time the window falls back under the limit. None: not exhausted."""

    @property
    def exhausted(self) -> bool:
        return self.frees_at is not None

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    def retry_after(self, now: float) -> int:
        """Whole seconds to wait before asking again (at least 1 while exhausted, 0 otherwise)."""
        if self.frees_at is None:
            return 0
        return max(1, math.ceil(self.frees_at - now))


def judge(window: Sequence[Bucket], now: float, limit: int) -> Verdict:
    """Whether another model call is admitted at `now` under an hourly `limit`: only while fewer than `limit`
    tokens were used in the last hour. A call's usage is known only after it, so one admitted call can take
    the window past the limit: the overshoot is at most that one call's tokens."""
    kept = prune(window, now)
    full = total = sum(tokens for _, tokens in kept)
    if total < limit:
        return Verdict(limit, total, None)
    for start, tokens in kept:  # oldest first: they fall out of the window first
        total -= tokens
        if total < limit:
            return Verdict(limit, full, float(start + BUCKET_SECONDS + WINDOW_SECONDS))
    raise AssertionError("unreachable: the window is empty once every bucket has fallen out")
