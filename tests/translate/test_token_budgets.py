"""Token budgets in the spec (issue 14 item 4): validation, rendering, and the supervisor defaults of a
subtree (nearest wins, field by field)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime.config import Budgets, parse_config
from agent_supervisor import api
from agent_supervisor.translate import manifests
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
