"""The rolling one-hour token window (agent_runtime.token_window): pure rules, checked as properties."""

from hypothesis import given
from hypothesis import strategies as st

from agent_runtime import token_window
from agent_runtime.token_window import BUCKET_SECONDS, WINDOW_SECONDS, judge, record, used

T0 = 1_800_000_000.0
Uses = st.lists(
    st.tuples(st.floats(min_value=0, max_value=3 * WINDOW_SECONDS), st.integers(min_value=0, max_value=500)),
    max_size=60,
)
"""(seconds after T0, tokens) of model calls, in any order of generation (sorted before recording)."""


def _window(uses: list[tuple[float, int]]) -> list[token_window.Bucket]:
    window: list[token_window.Bucket] = []
    for offset, tokens in sorted(uses):
        window = record(window, T0 + offset, tokens)
    return window


@given(Uses, st.floats(min_value=0, max_value=4 * WINDOW_SECONDS))
def test_the_window_never_undercounts_and_overcounts_by_at_most_one_bucket(uses, at) -> None:
    uses = sorted(uses)
    recorded = [(offset, tokens) for offset, tokens in uses if offset <= at]
    now = T0 + at
    exact = sum(tokens for offset, tokens in recorded if offset > at - WINDOW_SECONDS)
    loose = sum(tokens for offset, tokens in recorded if offset > at - WINDOW_SECONDS - BUCKET_SECONDS)
    assert exact <= used(_window(recorded), now) <= loose


@given(Uses)
def test_the_checkpointed_window_stays_small(uses) -> None:
    assert len(_window(uses)) <= WINDOW_SECONDS // BUCKET_SECONDS + 1


@given(Uses, st.integers(min_value=1, max_value=2000), st.floats(min_value=0, max_value=3 * WINDOW_SECONDS))
def test_an_exhausted_window_frees_exactly_when_it_says(uses, limit, at) -> None:
    now = T0 + at
    window = _window([use for use in uses if use[0] <= at])
    verdict = judge(window, now, limit)
    assert verdict.exhausted == (verdict.used >= limit)
    if verdict.frees_at is None:
        assert verdict.left == limit - verdict.used and verdict.retry_after(now) == 0
        return
    assert verdict.frees_at > now and verdict.left == 0 and verdict.retry_after(now) >= 1
    assert not judge(window, verdict.frees_at, limit).exhausted
    assert judge(window, verdict.frees_at - 0.5, limit).exhausted  # buckets are whole seconds apart


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=60), st.integers(min_value=1, max_value=300)), max_size=80
    ),
    st.integers(min_value=1, max_value=2000),
)
def test_an_agent_admitting_only_what_judge_admits_overshoots_by_at_most_one_call(calls, limit) -> None:
    # Calls `gap` seconds apart; a call runs only when judged admitted, and its tokens are known after it.
    window: list[token_window.Bucket] = []
    now, biggest = T0, 0
    for gap, tokens in calls:
        now += gap
        verdict = judge(window, now, limit)
        if verdict.exhausted:
            continue
        assert verdict.used < limit
        window = record(window, now, tokens)
        biggest = max(biggest, tokens)
        assert used(window, now) < limit + biggest


@given(Uses, st.integers(min_value=1, max_value=2000))
def test_an_hour_and_a_bucket_after_the_last_call_the_whole_budget_is_back(uses, limit) -> None:
    window = _window(uses)
    after = T0 + max((offset for offset, _ in uses), default=0) + WINDOW_SECONDS + BUCKET_SECONDS
    verdict = judge(window, after, limit)
    assert (verdict.used, verdict.left, verdict.exhausted) == (0, limit, False)


def test_a_clock_set_back_keeps_counting_what_was_used() -> None:
    window = record([], T0, 100)
    assert used(window, T0 - 600) == 100
    assert judge(window, T0 - 600, 100).exhausted
