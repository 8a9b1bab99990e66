"""The supervision trees of tree_model as terminal lines: one per node, in columns, kubectl style.

Pure: the clock reading, whether to colour and whether the terminal can draw box characters are passed in
(the I/O shell, cli/tree.py, decides them). The name column starts with the branch drawing, three characters
per level, so a node's indentation is its depth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

from agent_supervisor.cli.tree_model import LastExit, Node

NONE: Final = "-"
COLUMN_GAP: Final = "   "
HEADERS: Final = (
    "NAME",
    "KIND",
    "STRATEGY",
    "PHASE",
    "READY",
    "RESTARTS",
    "WINDOW",
    "BUDGET",
    "LAST EXIT",
    "AGE",
)
NAMESPACE_HEADER: Final = "NAMESPACE"


@dataclass(frozen=True, slots=True)
class Branches:
    """The four pieces the name column is drawn with, each exactly three characters wide."""

    middle: str
    last: str
    through: str
    past: str


UNICODE: Final = Branches("├─ ", "└─ ", "│  ", "   ")
ASCII: Final = Branches("|- ", "`- ", "|  ", "   ")
INDENT: Final = 3


class Tone(Enum):
    """What a cell says about health; the SGR code it is coloured with."""

    PLAIN = ""
    GOOD = "32"  # green
    BUSY = "33"  # yellow
    BAD = "31"  # red
    QUIET = "2"  # dim


_PHASE_TONES: Final[Mapping[str, Tone]] = {
    "Running": Tone.GOOD,
    "Succeeded": Tone.GOOD,
    "Pending": Tone.BUSY,
    "Starting": Tone.BUSY,
    "Restarting": Tone.BUSY,
    "Failed": Tone.BAD,
    "Stopped": Tone.QUIET,
}


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    tone: Tone = Tone.PLAIN


def can_draw_boxes(encoding: str | None) -> bool:
    """Whether text in `encoding` (the terminal's) can carry the box-drawing branches."""
    try:
        "".join((*UNICODE.middle, *UNICODE.last, *UNICODE.through)).encode(encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def wants_colour(is_tty: bool, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything but the empty string
    (https://no-color.org)."""
    return is_tty and not environ.get("NO_COLOR")


def human_age(seconds: float) -> str:
    """A duration as kubectl's AGE column writes it (apimachinery's duration.HumanDuration): 90s, 5m30s,
    45m, 3h20m, 20h, 3d4h, 40d, 2y30d, 9y."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _ready(ready: tuple[int, int] | None) -> Cell:
    if ready is None:
        return Cell(NONE)
    done, total = ready
    return Cell(f"{done}/{total}", Tone.GOOD if done >= total else Tone.BUSY)


def _exit(last: LastExit | None) -> Cell:
    if last is None:
        return Cell(NONE)
    text = last.reason if last.code is None else f"{last.reason} ({last.code})"
    return Cell(text, Tone.BAD if last.abnormal else Tone.PLAIN)


def _budget(budget: int | None) -> Cell:
    if budget is None:
        return Cell(NONE)
    return Cell(str(budget), Tone.BAD if budget == 0 else Tone.PLAIN)


def _cells(node: Node, name: str, now: datetime) -> list[Cell]:
    return [
        Cell(name),
        Cell(node.kind.value),
        Cell(node.strategy or NONE),
        Cell(node.phase or NONE, _PHASE_TONES.get(node.phase or "", Tone.PLAIN)),
        _ready(node.ready),
        Cell(NONE if node.restarts is None else str(node.restarts)),
        Cell(NONE if node.window is None else f"{node.window[0]}/{node.window[1]}"),
        _budget(node.budget),
        _exit(node.last_exit),
        Cell(NONE if node.created is None else human_age((now - node.created).total_seconds())),
    ]


def _named(node: Node, lead: str, rest: str, branches: Branches) -> Iterator[tuple[Node, str]]:
    """Each node of the subtree with its name cell: `lead` before its own name, `rest` before its
    children's branches."""
    yield node, lead + node.name
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        yield from _named(
            child,
            rest + (branches.last if last else branches.middle),
            rest + (branches.past if last else branches.through),
            branches,
        )


def rows(trees: Iterable[Node], now: datetime, *, namespaces: bool, branches: Branches) -> list[list[Cell]]:
    """The header and one row of cells per node, depth first."""
    header = [Cell(text) for text in ((NAMESPACE_HEADER,) if namespaces else ()) + HEADERS]
    table = [header]
    for tree in trees:
        for node, name in _named(tree, "", "", branches):
            table.append(([Cell(node.namespace or NONE)] if namespaces else []) + _cells(node, name, now))
    return table


def _paint(cell: Cell, colour: bool) -> str:
    if not colour or cell.tone is Tone.PLAIN:
        return cell.text
    return f"\x1b[{cell.tone.value}m{cell.text}\x1b[0m"


def layout(table: Sequence[Sequence[Cell]], *, colour: bool) -> list[str]:
    """The rows as lines: columns padded to their widest cell (counted without colour codes)."""
    widths = [max(len(row[i].text) for row in table) for i in range(len(table[0]))] if table else []
    lines = []
    for row in table:
        parts = [
            _paint(cell, colour) + " " * (width - len(cell.text))
            for cell, width in zip(row, widths, strict=True)
        ]
        lines.append(COLUMN_GAP.join(parts).rstrip())
    return lines


def render(
    trees: Sequence[Node],
    now: datetime,
    *,
    namespaces: bool = False,
    colour: bool = False,
    branches: Branches = UNICODE,
) -> list[str]:
    """The trees as lines under a header; `namespaces` adds a NAMESPACE column (for -A)."""
    return layout(rows(trees, now, namespaces=namespaces, branches=branches), colour=colour)
