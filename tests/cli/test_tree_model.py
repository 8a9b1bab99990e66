"""tree_model: API bodies -> supervision trees, nested by the labels the operator sets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_supervisor.cli.tree_model import LastExit, Node, NodeKind, find, forest
from tests.cli.bodies import NOW, agent, entry, ready_condition, sup

NOW_TIME = datetime.fromisoformat(NOW)
T = int(NOW_TIME.timestamp())


def two_level() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """examples/two-level-tree.yaml with a worker and a pool added, after one crash in the nested team."""
    root = sup(
        "root",
        [
            {"name": "frontdesk", "agent": {}},
            {"name": "tools", "worker": {"image": "python:3.12-slim"}},
            {"name": "workers", "pool": {"replicas": 2, "template": {}}},
            {"name": "research", "supervisor": {"children": []}},
        ],
        strategy="one_for_one",
        maxRestarts=2,
        periodSeconds=120,
        status={
            "phase": "Running",
            "readyChildren": "4/4",
            "restartHistory": [],
            "totalRestarts": 0,
            "children": [
                entry("frontdesk"),
                entry("tools", "Worker", attempt=1),
                entry("workers-0"),
                entry("workers-1", phase="Starting"),
                entry("research", "AgentSupervisor"),
            ],
            "pools": [{"name": "workers", "replicas": 2, "readyReplicas": 1}],
        },
    )
    research = sup(
        "root-research",
        [{"name": "lead", "agent": {}}, {"name": "searcher", "agent": {}}],
        parent="root",
        strategy="one_for_all",
        maxRestarts=1,
        periodSeconds=30,
        status={
            "phase": "Running",
            "readyChildren": "2/2",
            "restartHistory": [T - 10],
            "totalRestarts": 1,
            "children": [entry("lead"), entry("searcher", restarts=1)],
        },
    )
    crashed = {"reason": "Error", "code": 137, "classification": "abnormal", "time": "2026-05-01T11:59:50Z"}
    agents = [
        agent("root-frontdesk", parent="root", status={"phase": "Running", "totalRestarts": 0}),
        agent("root-workers-0", parent="root", pool="workers", status={"phase": "Running"}),
        agent("root-workers-1", parent="root", pool="workers", status={"phase": "Starting"}),
        agent("root-research-lead", parent="root-research", status={"phase": "Running", "totalRestarts": 0}),
        agent(
            "root-research-searcher",
            parent="root-research",
            status={"phase": "Running", "totalRestarts": 1, "lastExit": crashed},
        ),
    ]
    return [root, research], agents


def shape(node: Node, depth: int = 0) -> list[tuple[int, str, str]]:
    return [(d, n.kind.value, n.name) for d, n in node.walk(depth)]


def test_nesting_follows_the_labels_and_the_start_order_in_status() -> None:
    sups, agents = two_level()
    [root] = forest(sups, agents, NOW_TIME)
    assert shape(root) == [
        (0, "AgentSupervisor", "root"),
        (1, "Agent", "root-frontdesk"),
        (1, "Worker", "root-tools"),
        (1, "Pool", "root-workers"),
        (2, "Agent", "root-workers-0"),
        (2, "Agent", "root-workers-1"),
        (1, "AgentSupervisor", "root-research"),
        (2, "Agent", "root-research-lead"),
        (2, "Agent", "root-research-searcher"),
    ]


def test_each_node_carries_its_own_numbers() -> None:
    sups, agents = two_level()
    [root] = forest(sups, agents, NOW_TIME)
    frontdesk, tools, pool, research = root.children
    assert (root.strategy, root.phase, root.ready, root.window, root.budget) == (
        "one_for_one",
        "Running",
        (4, 4),
        (0, 2),
        2,
    )
    # The nested supervisor spent its whole budget of 1 on the searcher's crash 10 s ago.
    assert (research.strategy, research.window, research.budget, research.restarts) == (
        "one_for_all",
        (1, 1),
        0,
        1,
    )
    searcher = research.children[1]
    assert searcher.last_exit == LastExit("Error", 137, abnormal=True)
    assert searcher.restarts == 1
    # A supervised agent spends its supervisor's budget: no window or budget of its own.
    assert (searcher.window, searcher.budget) == (None, None)
    assert (tools.kind, tools.phase, tools.ready, tools.created) == (NodeKind.WORKER, "Running", (1, 1), None)
    assert pool.ready == (1, 2)
    assert [m.ready for m in pool.children] == [(1, 1), (0, 1)]
    assert frontdesk.created == datetime.fromisoformat("2026-05-01T11:58:30+00:00")


def test_the_window_holds_only_the_restarts_of_the_last_period_at_now() -> None:
    # Written by the operator when all three were recent; 40 and 90 s later only one counts of 60.
    team = sup(
        "team",
        [{"name": "a", "agent": {}}],
        maxRestarts=3,
        periodSeconds=60,
        status={"restartHistory": [T - 20, T - 60, T - 61, T - 200], "restartsInWindow": "3/3"},
    )
    [node] = forest([team], [], NOW_TIME)
    assert (node.window, node.budget) == ((2, 3), 1)


def test_defaults_apply_when_the_spec_omits_strategy_and_intensity() -> None:
    [node] = forest([sup("team", [], status={"restartHistory": [T - 1]})], [], NOW_TIME)
    assert (node.strategy, node.window, node.budget) == ("one_for_one", (1, 3), 2)


def test_a_standalone_agent_is_a_root_with_its_own_intensity() -> None:
    solo = agent(
        "solo",
        maxRestarts=5,
        periodSeconds=600,
        status={
            "phase": "Running",
            "conditions": [ready_condition()],
            "restartHistory": [T - 5],
            "totalRestarts": 4,
        },
    )
    [node] = forest([], [solo], NOW_TIME)
    assert (node.kind, node.ready, node.window, node.budget, node.restarts) == (
        NodeKind.AGENT,
        (1, 1),
        (1, 5),
        4,
        4,
    )


def test_children_not_created_yet_show_from_the_spec() -> None:
    team = sup(
        "team", [{"name": "a", "agent": {}}, {"name": "sub", "supervisor": {}}, {"name": "w", "worker": {}}]
    )
    [node] = forest([team], [], NOW_TIME)
    assert [(c.kind, c.name, c.phase) for c in node.children] == [
        (NodeKind.AGENT, "team-a", None),
        (NodeKind.SUPERVISOR, "team-sub", None),
        (NodeKind.WORKER, "team-w", None),
    ]


def test_a_child_whose_supervisor_is_gone_is_a_root_of_its_own() -> None:
    orphan = agent("gone-a", parent="gone", status={"phase": "Stopped"})
    solo = agent("solo")
    trees = forest([], [orphan, solo], NOW_TIME)
    assert [(t.name, t.window) for t in trees] == [("gone-a", None), ("solo", (0, 3))]


def test_namespaces_keep_same_named_trees_apart() -> None:
    a = sup("team", [{"name": "x", "agent": {}}], namespace="a")
    b = sup("team", [{"name": "x", "agent": {}}], namespace="b")
    xa = agent("team-x", parent="team", namespace="a", status={"phase": "Running"})
    xb = agent("team-x", parent="team", namespace="b", status={"phase": "Failed"})
    trees = forest([b, a], [xb, xa], NOW_TIME)
    assert [(t.namespace, t.children[0].namespace, t.children[0].phase) for t in trees] == [
        ("a", "a", "Running"),
        ("b", "b", "Failed"),
    ]


def test_departed_children_still_listed_in_status_come_last_then_stray_labelled_ones() -> None:
    team = sup(
        "team",
        [{"name": "b", "agent": {}}],
        status={"children": [entry("b"), entry("old", phase="Stopped")]},
    )
    stray = agent("team-zz", parent="team", child="zz")
    [node] = forest([team], [stray], NOW_TIME)
    assert [(c.name, c.phase) for c in node.children] == [
        ("team-b", "Running"),
        ("team-old", "Stopped"),
        ("team-zz", None),
    ]


def test_find_returns_the_subtree_of_a_nested_node() -> None:
    sups, agents = two_level()
    trees = forest(sups, agents, NOW_TIME)
    found = find(trees, "root-research")
    assert found is not None
    assert shape(found) == [
        (0, "AgentSupervisor", "root-research"),
        (1, "Agent", "root-research-lead"),
        (1, "Agent", "root-research-searcher"),
    ]
    assert find(trees, "root-tools") is None  # a worker is no resource to look up
    assert find(trees, "nobody") is None


# --- Any labels, any bodies ---------------------------------------------------------------------------------

# The machine is shared: slow draws are no fault of the code under test.
CHEAP = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@st.composite
def labelled_resources(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Supervisors and agents with arbitrary parent labels: nested, orphaned, cyclic, self-parented."""
    sup_names = draw(st.lists(NAMES, unique=True, max_size=6))
    agent_names = draw(st.lists(NAMES, unique=True, max_size=6))
    parents = st.one_of(st.none(), NAMES)
    sups = [sup(n, [], parent=draw(parents), child=draw(NAMES)) for n in sup_names]
    agents = [
        agent(n, parent=draw(parents), child=draw(NAMES), pool=draw(st.none() | NAMES)) for n in agent_names
    ]
    return sups, agents


@CHEAP
@given(labelled_resources())
def test_every_resource_is_shown_exactly_once_whatever_the_labels(
    resources: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    sups, agents = resources
    trees = forest(sups, agents, NOW_TIME)
    shown = [
        (n.kind.value, n.name)
        for t in trees
        for _, n in t.walk()
        if n.kind in (NodeKind.SUPERVISOR, NodeKind.AGENT)
    ]
    # Children the spec or status name but no resource backs are extra nodes; resources are each shown once.
    backed = [
        (k, n)
        for k, n in shown
        if (k, n)
        in {("AgentSupervisor", s["metadata"]["name"]) for s in sups}
        | {("Agent", a["metadata"]["name"]) for a in agents}
    ]
    expected = sorted(
        [("AgentSupervisor", s["metadata"]["name"]) for s in sups]
        + [("Agent", a["metadata"]["name"]) for a in agents]
    )
    assert sorted(backed) == expected


def _placed(node: Node, supervisor: str | None = None) -> list[tuple[Node, str | None]]:
    """Each Agent and AgentSupervisor node with the supervisor node it sits below (pools looked through)."""
    found: list[tuple[Node, str | None]] = []
    if node.kind is not NodeKind.POOL:
        found.append((node, supervisor))
        supervisor = node.name
    for child in node.children:
        found.extend(_placed(child, supervisor))
    return found


@CHEAP
@given(labelled_resources())
def test_a_resource_sits_below_its_labelled_supervisor_or_is_a_root_because_that_loops(
    resources: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    sups, agents = resources
    parent_of = {
        (kind, b["metadata"]["name"]): b["metadata"]["labels"].get("otp.agents.dev/supervisor")
        for kind, bodies in (("AgentSupervisor", sups), ("Agent", agents))
        for b in bodies
    }
    for tree in forest(sups, agents, NOW_TIME):
        for node, above in _placed(tree):
            label = parent_of.get((node.kind.value, node.name))
            if above is not None:
                assert label == above, (node.name, label, above)
                continue
            # A root: its supervisor is not there, or following supervisors up from it loops.
            seen: set[str] = set()
            while label is not None and ("AgentSupervisor", label) in parent_of and label not in seen:
                seen.add(label)
                label = parent_of[("AgentSupervisor", label)]
            assert label is None or ("AgentSupervisor", label) not in parent_of or label in seen


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "x", "Running", "1/2", "team-a"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "kind", "ready"]), inner)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "children",
        "phase",
        "readyChildren",
        "restartHistory",
        "totalRestarts",
        "lastExit",
        "pools",
        "strategy",
        "maxRestarts",
        "periodSeconds",
        "conditions",
        "name",
        "kind",
        "ready",
        "restarts",
        "pool",
        "replicas",
    ]
)


@CHEAP
@given(
    st.dictionaries(FIELDS, JSON, max_size=6),
    st.dictionaries(FIELDS, JSON, max_size=6),
    st.dictionaries(FIELDS, JSON, max_size=6),
)
def test_half_written_or_invalid_bodies_still_render(spec: Any, status: Any, agent_status: Any) -> None:
    team = sup("team", [], status=status)
    team["spec"] = spec
    child = agent("team-a", parent="team", status=agent_status)
    trees = forest([team], [child], NOW_TIME)
    assert {n.name for t in trees for _, n in t.walk()} >= {"team", "team-a"}


@pytest.mark.parametrize(
    ("stamp", "created"),
    [
        ("2026-05-01T11:58:30Z", datetime(2026, 5, 1, 11, 58, 30, tzinfo=UTC)),
        ("2026-05-01T11:58:30", datetime(2026, 5, 1, 11, 58, 30, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_creation_times_are_read_as_utc_or_not_at_all(stamp: str | None, created: datetime | None) -> None:
    [node] = forest([], [agent("a", created=stamp)], NOW_TIME)
    assert node.created == created
