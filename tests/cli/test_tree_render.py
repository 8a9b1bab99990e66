"""tree_render: trees -> terminal lines; and the colour and box-drawing decisions."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_supervisor.cli.tree_model import LastExit, Node, NodeKind, forest
from agent_supervisor.cli.tree_render import (
    ASCII,
    INDENT,
    UNICODE,
    can_draw_boxes,
    human_age,
    render,
    wants_colour,
)
from tests.cli.test_tree_model import NOW_TIME, two_level

# A snapshot: a change to it is a change users see (update it deliberately).
SNAPSHOT = (Path(__file__).parent / "snapshots" / "two-level.txt").read_text()

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_a_two_level_tree_renders_as_the_snapshot() -> None:
    sups, agents = two_level()
    assert "\n".join(render(forest(sups, agents, NOW_TIME), NOW_TIME)) + "\n" == SNAPSHOT


def test_all_namespaces_adds_the_namespace_and_ascii_branches_keep_the_shape() -> None:
    sups, agents = two_level()
    lines = render(forest(sups, agents, NOW_TIME), NOW_TIME, namespaces=True, branches=ASCII)
    assert lines[0].startswith("NAMESPACE   NAME ")
    assert lines[7].startswith("team-ns     `- root-research ")
    assert lines[9].startswith("team-ns        `- root-research-searcher ")
    assert all(line.isascii() for line in lines)


def test_colour_marks_health_and_changes_nothing_else() -> None:
    sups, agents = two_level()
    trees = forest(sups, agents, NOW_TIME)
    coloured = render(trees, NOW_TIME, colour=True)
    assert [ANSI.sub("", line) for line in coloured] == render(trees, NOW_TIME)
    research = next(line for line in coloured if "root-research " in line)
    assert "\x1b[32mRunning\x1b[0m" in research  # green
    assert "\x1b[31m0\x1b[0m" in research  # no budget left: red
    starting = next(line for line in coloured if "root-workers-1" in line)
    assert "\x1b[33mStarting\x1b[0m" in starting and "\x1b[33m0/1\x1b[0m" in starting  # yellow
    assert "\x1b[31mError (137)\x1b[0m" in coloured[-1]


def test_a_normal_exit_and_a_failed_phase() -> None:
    node = Node(
        NodeKind.AGENT, "ns", "done", phase="Failed", last_exit=LastExit("Completed", 0, abnormal=False)
    )
    [_, line] = render([node], NOW_TIME, colour=True)
    assert "\x1b[31mFailed\x1b[0m" in line
    assert "Completed (0)" in line and "\x1b[31mCompleted" not in line


@pytest.mark.parametrize(
    ("is_tty", "environ", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": "anything"}, False),
        # no-color.org: set to the empty string, NO_COLOR does not apply.
        (True, {"NO_COLOR": ""}, True),
        (False, {"NO_COLOR": ""}, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    is_tty: bool, environ: dict[str, str], expected: bool
) -> None:
    assert wants_colour(is_tty, environ) is expected


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", True), ("UTF-8", True), ("ascii", False), ("latin-1", False), (None, False)],
)
def test_box_drawing_only_where_the_encoding_has_it(encoding: str | None, expected: bool) -> None:
    assert can_draw_boxes(encoding) is expected


@pytest.mark.parametrize(
    ("seconds", "age"),
    # kubectl's own (apimachinery duration.HumanDuration) cut-offs.
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (760 * 86400, "2y30d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_as_kubectl_writes_them(seconds: float, age: str) -> None:
    assert human_age(seconds) == age


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Node:
    children = draw(st.lists(trees(depth + 1), max_size=3)) if depth < 3 else []
    return Node(
        kind=draw(st.sampled_from(list(NodeKind))),
        namespace="ns",
        name=draw(st.text("abcdefghij-", min_size=1, max_size=12)),
        phase=draw(st.none() | st.sampled_from(["Running", "Failed", "Pending"])),
        restarts=draw(st.none() | st.integers(0, 10_000)),
        created=draw(st.none() | st.just(datetime.fromisoformat("2026-05-01T11:00:00+00:00"))),
        children=tuple(children),
    )


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees(), max_size=3), st.sampled_from([UNICODE, ASCII]), st.booleans())
def test_every_node_is_one_line_indented_by_its_depth(
    forest_: list[Node], branches, namespaces: bool
) -> None:
    lines = render(forest_, NOW_TIME, namespaces=namespaces, branches=branches)
    nodes = [(depth, node) for tree in forest_ for depth, node in tree.walk()]
    assert len(lines) == 1 + len(nodes)
    start = re.search(r"\bNAME\b", lines[0]).start()  # type: ignore[union-attr]
    kind_at = lines[0].index("KIND")
    for line, (depth, node) in zip(lines[1:], nodes, strict=True):
        name_cell = line[start:kind_at].rstrip()
        assert name_cell.endswith(node.name)
        prefix = name_cell[: -len(node.name)]
        assert len(prefix) == INDENT * depth
        assert prefix.strip(" " + "".join({*branches.middle, *branches.last, *branches.through})) == ""
        assert line[kind_at:].startswith(node.kind.value)
