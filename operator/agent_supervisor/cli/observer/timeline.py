"""The Observer's timeline: the operator's restart Events about Agents and AgentSupervisors, newest first.

Pure. An Event names the resource it is about (involvedObject) and, in its message, the children involved: the
supervision core writes `child <name> exited (<how>); <strategy> restarts <a>, <b>, ...` for a group restart
(supervision/decide.py), so every child a group restart took with it is read from there. The names are
child names in the supervisor's spec; the resources are `<supervisor>-<child>` (translate/labels.py). A test
runs the real core to produce the message, so a change of its wording breaks that test, not the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from agent_supervisor.cli.observer.ids import node_id
from agent_supervisor.cli.tree_model import AGENT_KIND, SUPERVISOR_KIND
from agent_supervisor.supervision import EventReason
from agent_supervisor.translate import labels

MAX_ENTRIES: Final = 200
"""The timeline keeps the newest entries only: a crash loop must not grow the page without end."""

RESTART_REASONS: Final = frozenset(
    {
        EventReason.CHILD_RESTARTED,
        EventReason.GROUP_RESTARTED,
        EventReason.CHILD_EXITED,
        EventReason.CHILD_START_FAILED,
        EventReason.INTENSITY_EXCEEDED,
        EventReason.ESCALATED,
        EventReason.AUTO_SHUTDOWN,
    }
)
"""The reasons the timeline shows: exits and what the supervisor did about them."""

_EXITED: Final = re.compile(r"^child (?P<child>[a-z0-9]([-a-z0-9]*[a-z0-9])?) exited\b")
_GROUP: Final = re.compile(
    r"; (?P<strategy>one_for_all|rest_for_one) restarts (?P<names>[a-z0-9][-a-z0-9]*(, [a-z0-9][-a-z0-9]*)*)"
)


@dataclass(frozen=True, slots=True)
class Restart:
    """What an Event's message says about the children: the one that exited, the ones restarted."""

    failed: str | None
    strategy: str | None
    restarted: tuple[str, ...]


def parse_message(reason: str, message: str) -> Restart:
    """The child names in the message of an Event the supervision core emitted (empty when it names none)."""
    exited = _EXITED.match(message)
    failed = exited["child"] if exited is not None else None
    if reason == EventReason.GROUP_RESTARTED:
        group = _GROUP.search(message)
        if group is not None:
            return Restart(failed, group["strategy"], tuple(group["names"].split(", ")))
    if reason == EventReason.CHILD_RESTARTED and failed is not None:
        return Restart(failed, "one_for_one", (failed,))
    return Restart(failed, None, ())


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(event: Mapping[str, Any]) -> str:
    """When it happened: the newest stamp the Event has (eventTime for events.k8s.io, else core/v1's)."""
    series = _map(event.get("series"))
    for stamp in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        _map(event.get("metadata")).get("creationTimestamp"),
    ):
        if isinstance(stamp, str) and stamp:
            return stamp
    return ""


def _resource(owner_kind: str, namespace: str, owner: str, child: str) -> str:
    """The node id of child `child` of the Event's object: a supervisor's child resource, or a standalone
    Agent itself (it supervises its one pod as a one_for_one supervisor with one child named after it)."""
    if owner_kind == AGENT_KIND:
        return node_id(namespace, owner)
    return node_id(namespace, labels.child_name(owner, child))


def entry(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """One timeline entry (JSON-able), or None for an Event the timeline does not show."""
    involved = _map(event.get("involvedObject"))
    kind, reason = _text(involved.get("kind")), _text(event.get("reason"))
    if kind not in (AGENT_KIND, SUPERVISOR_KIND) or reason not in RESTART_REASONS:
        return None
    namespace, owner = _text(involved.get("namespace")), _text(involved.get("name"))
    message = _text(event.get("message"))
    said = parse_message(reason, message)
    return {
        "id": _text(_map(event.get("metadata")).get("uid")) or f"{namespace}/{owner}/{reason}/{_time(event)}",
        "time": _time(event),
        "type": _text(event.get("type")) or "Normal",
        "reason": reason,
        "message": message,
        "namespace": namespace,
        "subject": node_id(namespace, owner),
        "strategy": said.strategy,
        "failed": None if said.failed is None else _resource(kind, namespace, owner, said.failed),
        "restarted": [_resource(kind, namespace, owner, child) for child in said.restarted],
    }


def timeline(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The entries of the Events the timeline shows, newest first, at most MAX_ENTRIES."""
    entries = [made for event in events if (made := entry(event)) is not None]
    entries.sort(key=lambda e: (e["time"], e["id"]), reverse=True)
    return entries[:MAX_ENTRIES]
