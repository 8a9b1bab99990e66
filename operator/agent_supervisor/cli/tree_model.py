"""Supervision trees as `agent-supervisor tree` shows them, built from AgentSupervisor and Agent bodies.

Pure: the bodies come in as the API returned them (plain dicts, possibly half-written or invalid, so every
field is read defensively) and `now` is passed in. Nesting follows the labels the operator puts on the
resources it creates (translate/labels.py): `otp.agents.dev/supervisor` names the parent, `.../child` the
child's name in the parent's spec, `.../pool` the pool of a pool member. Workers have no resource: they come
from the parent's status.children. The parent's status.children gives the start order.

Every resource becomes exactly one node: one whose parent is not in the listing (deleted, or another
namespace) is a root of its own, and so is every resource of a label cycle (which only hand-made labels can
make), so nothing is lost and nothing is shown twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from agent_supervisor.api.common import DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD_SECONDS
from agent_supervisor.supervision import budget_left, restarts_in_window
from agent_supervisor.translate import labels

Body = Mapping[str, Any]

SUPERVISOR_KIND: Final = "AgentSupervisor"
AGENT_KIND: Final = "Agent"
_MEMBER = re.compile(r"^(?P<pool>.+)-(?P<index>[0-9]+)$")
_FRACTION = re.compile(r"^\s*(?P<ready>[0-9]+)\s*/\s*(?P<total>[0-9]+)\s*$")


class NodeKind(StrEnum):
    SUPERVISOR = SUPERVISOR_KIND
    AGENT = AGENT_KIND
    POOL = "Pool"
    WORKER = "Worker"


@dataclass(frozen=True, slots=True)
class LastExit:
    reason: str
    code: int | None
    abnormal: bool


@dataclass(frozen=True, slots=True)
class Node:
    """One line of the tree. None means the field does not apply to the node or is not known yet."""

    kind: NodeKind
    namespace: str
    name: str
    strategy: str | None = None
    phase: str | None = None
    ready: tuple[int, int] | None = None
    """Ready out of all: children of a supervisor, members of a pool, 1 for an agent or a worker."""
    restarts: int | None = None
    """Restarts since creation (the resource's totalRestarts; a worker's, its supervisor's count)."""
    window: tuple[int, int] | None = None
    """Restarts in the intensity window at `now` out of maxRestarts, for nodes with an intensity of their own:
    supervisors and standalone agents (a supervised agent spends its supervisor's)."""
    budget: int | None = None
    last_exit: LastExit | None = None
    created: datetime | None = None
    children: tuple[Node, ...] = ()

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Node]]:
        """This node and every node below it, depth first in display order, with their depths."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


# --- Reading bodies defensively -----------------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    # bool is an int to Python, never to the API.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _meta(body: Body) -> Mapping[str, Any]:
    return _map(body.get("metadata"))


def _labels(body: Body) -> Mapping[str, str]:
    return {k: v for k, v in _map(_meta(body).get("labels")).items() if isinstance(v, str)}


def _name(body: Body) -> str:
    return _str(_meta(body).get("name")) or ""


def _namespace(body: Body) -> str:
    return _str(_meta(body).get("namespace")) or ""


def _status(body: Body) -> Mapping[str, Any]:
    return _map(body.get("status"))


def _spec(body: Body) -> Mapping[str, Any]:
    return _map(body.get("spec"))


def _created(body: Body) -> datetime | None:
    stamp = _str(_meta(body).get("creationTimestamp"))
    if stamp is None:
        return None
    try:
        created = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    # The API writes UTC with a Z; a hand-written stamp without a zone is read as UTC too, not as local time.
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def _last_exit(status: Mapping[str, Any]) -> LastExit | None:
    info = _map(status.get("lastExit"))
    reason = _str(info.get("reason"))
    if reason is None:
        return None
    return LastExit(reason, _int(info.get("code")), info.get("classification") == "abnormal")


def _fraction(text: Any) -> tuple[int, int] | None:
    found = _FRACTION.match(text) if isinstance(text, str) else None
    return None if found is None else (int(found["ready"]), int(found["total"]))


def _condition_true(status: Mapping[str, Any], kind: str) -> bool:
    return any(
        _map(c).get("type") == kind and _map(c).get("status") == "True"
        for c in _list(status.get("conditions"))
    )


def _window(body: Body, now: int) -> tuple[tuple[int, int], int]:
    """Restarts in the window at `now` out of maxRestarts, and the budget left, from the stored history:
    a window the operator wrote minutes ago has emptied since, which its restartsInWindow does not say."""
    spec, status = _spec(body), _status(body)
    max_restarts = _int(spec.get("maxRestarts"))
    period = _int(spec.get("periodSeconds"))
    max_restarts = DEFAULT_MAX_RESTARTS if max_restarts is None else max_restarts
    period = DEFAULT_PERIOD_SECONDS if period is None else period
    history = [at for at in _list(status.get("restartHistory")) if _int(at) is not None]
    used = restarts_in_window(history, now, period)
    return (used, max_restarts), budget_left(history, now, max_restarts, period)


# --- Nodes of resources -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resource:
    kind: str
    body: Body

    @property
    def key(self) -> tuple[str, str, str]:
        return _namespace(self.body), self.kind, _name(self.body)

    @property
    def parent(self) -> tuple[str, str] | None:
        """The (namespace, name) of the AgentSupervisor its labels name as its supervisor."""
        parent = labels.supervisor_of(_labels(self.body))
        return None if parent is None else (_namespace(self.body), parent)


def _supervisor_node(body: Body, now: int, children: tuple[Node, ...]) -> Node:
    status = _status(body)
    window, budget = _window(body, now)
    return Node(
        kind=NodeKind.SUPERVISOR,
        namespace=_namespace(body),
        name=_name(body),
        strategy=_str(_spec(body).get("strategy")) or "one_for_one",
        phase=_str(status.get("phase")),
        ready=_fraction(status.get("readyChildren")),
        restarts=_int(status.get("totalRestarts")),
        window=window,
        budget=budget,
        last_exit=_last_exit(status),
        created=_created(body),
        children=children,
    )


def _agent_node(body: Body, now: int, entry: Mapping[str, Any] | None) -> Node:
    """An Agent; `entry` is its supervisor's status.children entry for it, when there is one."""
    status = _status(body)
    supervised = labels.supervisor_of(_labels(body)) is not None
    window, budget = (None, None) if supervised else _window(body, now)
    ready = entry.get("ready") is True if entry is not None else _condition_true(status, "Ready")
    restarts = _int(status.get("totalRestarts"))
    return Node(
        kind=NodeKind.AGENT,
        namespace=_namespace(body),
        name=_name(body),
        phase=_str(status.get("phase")) or (None if entry is None else _str(entry.get("phase"))),
        ready=(int(ready), 1),
        restarts=restarts if restarts is not None or entry is None else _int(entry.get("restarts")),
        window=window,
        budget=budget,
        last_exit=_last_exit(status) or (None if entry is None else _last_exit(entry)),
        created=_created(body),
    )


def _entry_node(kind: NodeKind, namespace: str, name: str, entry: Mapping[str, Any] | None) -> Node:
    """A child known only from its supervisor: a worker, or an agent or supervisor whose resource is not
    there (not created yet, or already deleted)."""
    entry = entry or {}
    return Node(
        kind=kind,
        namespace=namespace,
        name=name,
        phase=_str(entry.get("phase")),
        ready=(int(entry.get("ready") is True), 1),
        restarts=_int(entry.get("restarts")),
        last_exit=_last_exit(entry),
    )


# --- Building the forest ------------------------------------------------------------------------------------


@dataclass
class _Builder:
    now: int
    resources: dict[tuple[str, str, str], _Resource]
    supervisors: set[tuple[str, str]]
    below: dict[tuple[str, str], list[_Resource]] = field(default_factory=lambda: defaultdict(list))
    done: set[tuple[str, str, str]] = field(default_factory=set)

    def node(self, resource: _Resource, entry: Mapping[str, Any] | None = None) -> Node:
        self.done.add(resource.key)
        if resource.kind == AGENT_KIND:
            return _agent_node(resource.body, self.now, entry)
        return _supervisor_node(resource.body, self.now, self.children(resource.body))

    def children(self, sup: Body) -> tuple[Node, ...]:
        namespace, name = _namespace(sup), _name(sup)
        claimed: dict[str, list[_Resource]] = defaultdict(list)
        for resource in self.below.get((namespace, name), []):
            if resource.key not in self.done:
                claimed[_labels(resource.body).get(labels.CHILD, "")].append(resource)
        entries = {
            entry_name: _map(entry)
            for entry in _list(_status(sup).get("children"))
            if (entry_name := _str(_map(entry).get("name"))) is not None
        }
        spec_kinds = _spec_kinds(_spec(sup))
        pools = _pool_names(sup)
        # A pool's members sit under one pool node at the first member's place (a str stands for it here).
        placed: list[Node | str] = []
        members: dict[str, list[Node]] = {}
        for child in _ordered(entries, spec_kinds, claimed):
            found = claimed.get(child, [])
            entry = entries.get(child)
            if found:
                made = [self.node(resource, entry) for resource in found]
            else:
                kind = _child_kind(entry, spec_kinds.get(child))
                made = [_entry_node(kind, namespace, labels.child_name(name, child), entry)]
            pool = _pool_of(child, pools, found)
            if pool is None:
                placed.extend(made)
                continue
            if pool not in members:
                members[pool] = []
                placed.append(pool)
            members[pool].extend(made)
        return tuple(_pool_node(sup, p, members[p]) if isinstance(p, str) else p for p in placed)


def _pool_node(sup: Body, pool: str, members: list[Node]) -> Node:
    size = next(
        (
            (_int(p.get("readyReplicas")) or 0, _int(p.get("replicas")) or 0)
            for p in map(_map, _list(_status(sup).get("pools")))
            if p.get("name") == pool
        ),
        None,
    )
    ready = size or (sum(1 for m in members if m.ready == (1, 1)), len(members))
    counted = [m.restarts for m in members if m.restarts is not None]
    return Node(
        kind=NodeKind.POOL,
        namespace=_namespace(sup),
        name=labels.child_name(_name(sup), pool),
        ready=ready,
        restarts=sum(counted) if counted else None,
        children=tuple(members),
    )


def _spec_kinds(spec: Mapping[str, Any]) -> dict[str, NodeKind]:
    """Each child name the spec asks for (a pool's members one by one), in start order, with its kind."""
    kinds: dict[str, NodeKind] = {}
    for entry in map(_map, _list(spec.get("children"))):
        name = _str(entry.get("name"))
        if name is None:
            continue
        if "pool" in entry:
            replicas = _int(_map(entry.get("pool")).get("replicas")) or 0
            kinds.update({f"{name}-{index}": NodeKind.AGENT for index in range(max(0, min(replicas, 1024)))})
        elif "supervisor" in entry:
            kinds[name] = NodeKind.SUPERVISOR
        elif "worker" in entry:
            kinds[name] = NodeKind.WORKER
        else:
            kinds[name] = NodeKind.AGENT
    return kinds


def _pool_names(sup: Body) -> set[str]:
    from_spec = {
        name
        for entry in map(_map, _list(_spec(sup).get("children")))
        if "pool" in entry and (name := _str(entry.get("name"))) is not None
    }
    from_status = {name for p in map(_map, _list(_status(sup).get("pools"))) if (name := _str(p.get("name")))}
    return from_spec | from_status


def _pool_of(child: str, pools: set[str], found: Sequence[_Resource]) -> str | None:
    for resource in found:
        pool = _labels(resource.body).get(labels.POOL)
        if pool:
            return pool
    member = _MEMBER.match(child)
    return member["pool"] if member is not None and member["pool"] in pools else None


def _child_kind(entry: Mapping[str, Any] | None, from_spec: NodeKind | None) -> NodeKind:
    kind = None if entry is None else entry.get("kind")
    return NodeKind(kind) if kind in set(NodeKind) else from_spec or NodeKind.AGENT


def _ordered(
    entries: Mapping[str, Any], spec_kinds: Mapping[str, NodeKind], claimed: Mapping[str, Any]
) -> list[str]:
    """The supervisor's children in start order: as its status lists them (departing ones last), then those
    its spec asks for that the status does not list yet, then resources labelled as its children that
    neither names (sorted, so the output is stable)."""
    order = list(entries)
    order += [name for name in spec_kinds if name not in entries]
    known = set(order)
    order += sorted(name for name in claimed if name not in known)
    return order


def forest(supervisors: Iterable[Body], agents: Iterable[Body], now: datetime) -> list[Node]:
    """Every AgentSupervisor and Agent arranged into trees, roots sorted by namespace and name."""
    resources: dict[tuple[str, str, str], _Resource] = {}
    for kind, bodies in ((SUPERVISOR_KIND, supervisors), (AGENT_KIND, agents)):
        for body in bodies:
            resource = _Resource(kind, body)
            resources[resource.key] = resource
    sups = {(ns, name) for ns, kind, name in resources if kind == SUPERVISOR_KIND}
    builder = _Builder(int(now.timestamp()), resources, sups)
    roots: list[_Resource] = []
    for resource in resources.values():
        parent = resource.parent
        if parent is not None and parent in sups:
            builder.below[parent].append(resource)
        else:
            roots.append(resource)
    ordered = sorted(roots, key=lambda r: r.key)
    trees = [builder.node(resource) for resource in ordered]
    # Whatever no root reached sits in a label cycle: each becomes a root, so it is still shown once.
    for key in sorted(resources):
        if key not in builder.done:
            trees.append(builder.node(resources[key]))
    return trees


def find(trees: Iterable[Node], name: str) -> Node | None:
    """The Agent or AgentSupervisor node named `name`, with its subtree; None when there is none."""
    for tree in trees:
        for _, node in tree.walk():
            if node.name == name and node.kind in (NodeKind.SUPERVISOR, NodeKind.AGENT):
                return node
    return None
