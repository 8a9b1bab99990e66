"""Token budgets in the spec (issue 14 item 4): validation, rendering, and the supervisor defaults of a
subtree (nearest wins, field by field)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime.config import Budgets, parse_config
from agent_supervisor import api
from agent_supervisor.translate import budgets, manifests, status
from agent_supervisor.translate.projection import InvalidResourceError, parse_agent, parse_supervisor
from agent_supervisor.translate.runtime_config import RenderContext, render

CTX = RenderContext(namespace="team-ns")


def test_the_budget_is_rendered_into_the_runtime_config_and_reloads_in_place(make_agent):
    unbounded = render(make_agent(), CTX)
    bounded = render(make_agent(tokenBudget={"perTask": 2000, "perHour": 50000}), CTX)

    budgets = parse_config(bounded.document).budgets
    assert (budgets.max_tokens, budgets.max_tokens_per_hour) == (2000, 50000)
    assert parse_config(unbounded.document).budgets == Budgets()  # no budget: none enforced
    # The revision is what hot reload follows: a budget edit reaches the running agent without a restart.
    assert bounded.revision != unbounded.revision


@pytest.mark.parametrize(
    ("budget", "field"),
    [({"perHour": 0}, "spec.tokenBudget.perHour"), ({"perTask": -5}, "spec.tokenBudget.perTask")],
)
def test_a_budget_below_one_token_is_invalid_naming_the_field(bodies, budget, field):
    with pytest.raises(InvalidResourceError) as raised:
        parse_agent(bodies.agent(tokenBudget=budget))
    [problem] = raised.value.problems
    assert problem.field == field and "greater than or equal to 1" in problem.message


def test_a_supervisor_budget_is_a_default_for_its_whole_subtree(bodies):
    sup = parse_supervisor(
        bodies.supervisor(
            "team",
            tokenBudget={"perTask": 50, "perHour": 1000},
            children=[
                {"name": "own", "agent": bodies.template(tokenBudget={"perTask": 10})},
                {"name": "plain", "agent": bodies.template()},
                {"name": "pool", "pool": {"replicas": 2, "template": bodies.template()}},
                {
                    "name": "inner",
                    "supervisor": {
                        "tokenBudget": {"perHour": 500},
                        "children": [{"name": "deep", "agent": bodies.template()}],
                    },
                },
            ],
        )
    )

    def budget(manifest: dict[str, Any]) -> dict[str, Any]:
        return dict(manifest["spec"]["tokenBudget"])

    assert budget(manifests.child_agent(sup, "own")) == {"perTask": 10, "perHour": 1000}
    assert budget(manifests.child_agent(sup, "plain")) == {"perTask": 50, "perHour": 1000}
    assert budget(manifests.child_agent(sup, "pool-1")) == {"perTask": 50, "perHour": 1000}
    inner = manifests.child_supervisor(sup, "inner", 1)
    assert budget(inner) == {"perTask": 50, "perHour": 500}
    nested = parse_supervisor({**inner, "metadata": {**inner["metadata"], "uid": "uid-inner"}})
    deep = parse_agent(manifests.child_agent(nested, "deep"))
    assert deep.spec.token_budget == api.TokenBudget(per_task=50, per_hour=500)


def test_without_any_budget_the_child_has_none(make_supervisor):
    assert "tokenBudget" not in manifests.child_agent(make_supervisor("team"), "a")["spec"]


MaybeBudgets = st.one_of(
    st.none(),
    st.builds(
        api.TokenBudget,
        per_task=st.one_of(st.none(), st.integers(1, 10**6)),
        per_hour=st.one_of(st.none(), st.integers(1, 10**6)),
    ),
)


@given(st.lists(MaybeBudgets, min_size=1, max_size=5))
def test_each_field_comes_from_the_nearest_level_that_sets_it(levels):
    # levels[0] is the agent's own budget, then its supervisor's, then that supervisor's ancestors'.
    inherited: api.TokenBudget | None = None
    for level in reversed(levels):
        inherited = api.effective_budget(level, inherited)
    for field in ("per_task", "per_hour"):
        nearest = next((getattr(b, field) for b in levels if b is not None and getattr(b, field)), None)
        assert (getattr(inherited, field) if inherited is not None else None) == nearest


# --- What the runtime reports, as the Agent's status ------------------------------------------------------

FREES_AT = 1_800_003_600.0
EXHAUSTED = {
    "tokenBudget": {
        "perHour": 100,
        "usedInWindow": 130,
        "leftInWindow": 0,
        "exhausted": True,
        "freesAt": FREES_AT,
    }
}
ROOMY = {"tokenBudget": {"perHour": 100, "usedInWindow": 40, "leftInWindow": 60, "exhausted": False}}
UNBUDGETED = {"tokenBudget": {"perHour": None, "usedInWindow": 40, "exhausted": False}}


def _status(previous: dict[str, Any] | None, runtime_status: dict[str, Any]) -> dict[str, Any]:
    report = budgets.kept(runtime_status)
    return status.config_status(3, "rev", "rev", 1_800_000_000, previous, None, report)


def _condition(written: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in written["conditions"] if c["type"] == "BudgetAvailable"), None)


def test_an_exhausted_hourly_budget_is_a_false_condition_with_the_window_in_the_status():
    running = {
        "phase": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Running",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    written = _status(running, EXHAUSTED)

    condition = _condition(written)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "HourlyBudgetExhausted")
    assert "130 tokens" in condition["message"] and "2027-01-15T09:00:00Z" in condition["message"]
    assert "no restart" in condition["message"]
    assert (written["hourlyTokensUsed"], written["hourlyTokenBudgetLeft"]) == (130, 0)
    assert written["phase"] == "Running"  # a pause is not a failure: the agent is still up and Ready


def test_exhaustion_and_recovery_post_one_event_each_and_nothing_else_does():
    fresh = _status(None, ROOMY)
    exhausted = _status(fresh, EXHAUSTED)
    still = _status(exhausted, EXHAUSTED)
    recovered = _status(still, ROOMY)

    assert budgets.transition_notice(None, fresh["conditions"]) is None  # never exhausted: no news
    went = budgets.transition_notice(fresh["conditions"], exhausted["conditions"])
    assert went is not None and (went.type, went.reason) == ("Warning", "HourlyBudgetExhausted")
    assert budgets.transition_notice(exhausted["conditions"], still["conditions"]) is None
    back = budgets.transition_notice(still["conditions"], recovered["conditions"])
    assert back is not None and (back.type, back.reason) == ("Normal", "BudgetAvailable")
    assert (recovered["hourlyTokensUsed"], recovered["hourlyTokenBudgetLeft"]) == (40, 60)


def test_an_agent_without_an_hourly_budget_gets_no_condition_and_a_removed_one_is_cleared():
    assert _condition(_status(None, UNBUDGETED)) is None
    assert "hourlyTokensUsed" not in _status(None, UNBUDGETED)
    removed = _status(_status(None, EXHAUSTED), UNBUDGETED)
    condition = _condition(removed)
    assert condition is not None and (condition["status"], condition["reason"]) == ("True", "NoHourlyBudget")
    assert "hourlyTokensUsed" not in removed and "hourlyTokenBudgetLeft" not in removed


def test_without_a_report_the_stored_budget_status_is_kept():
    exhausted = _status(None, EXHAUSTED)
    kept = status.config_status(3, "rev", "rev", 1_800_000_100, exhausted, None, None)
    assert _condition(kept) == _condition(exhausted)
    assert kept["hourlyTokensUsed"] == 130


def test_malformed_runtime_figures_are_dropped_not_written():
    report = budgets.kept(
        {
            "tokenBudget": {
                "perHour": 100,
                "usedInWindow": -1,
                "leftInWindow": "x",
                "exhausted": "yes",
                "freesAt": True,
            }
        }
    )
    assert report == {"perHour": 100, "exhausted": False}
