"""A supervisor's children as its core supervises them: each entry of `spec.children`, each pool member alone.

A pool entry `{name: workers, pool: {replicas: 3, template: T}}` is three core children, `workers-0` ..
`workers-2`, at the pool's place in the start order, each an ordinary agent child with template T and the
entry's restart, significant and shutdown. So the core needs no notion of pools: scaling a pool is adding or
removing children (dynamic children), and every strategy treats the members as consecutive children.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from agent_supervisor import api


@dataclass(frozen=True, slots=True)
class Member:
    """One child of a supervisor: an entry of its spec, or one member of a pool entry."""

    name: str
    """The core's child name: the entry's name, or `<pool>-<index>`."""
    entry: api.ChildSpec

    @property
    def pool(self) -> str | None:
        """The pool this child is a member of; None for an agent or nested supervisor entry."""
        return self.entry.name if self.entry.pool is not None else None

    @property
    def template(self) -> api.AgentTemplate | None:
        """The agent template, for an agent child or a pool member; None for a nested supervisor."""
        return self.entry.template

    @property
    def worker(self) -> api.WorkerSpec | None:
        """The container of a worker child; None for every other kind."""
        return self.entry.worker


def members(spec: api.SupervisorSpec) -> Iterator[Member]:
    """Every child of the supervisor in start order, pool members in index order at their pool's place."""
    return members_of(spec.children)


def members_of(entries: Iterable[api.ChildSpec]) -> Iterator[Member]:
    for entry in entries:
        for name in entry.member_names:
            yield Member(name, entry)


def member(sup: api.AgentSupervisor, name: str) -> Member:
    """The child `name` of `sup`; KeyError if its spec has none by that name."""
    for entry in sup.spec.children:
        if entry.pool is None:
            if entry.name == name:
                return Member(name, entry)
            continue
        index = name.removeprefix(f"{entry.name}-")
        # `and` checks in order: the suffix is a number, in canonical form, below the replicas.
        if (
            index.isdigit()
            and api.member_name(entry.name, int(index)) == name
            and int(index) < entry.pool.replicas
        ):
            return Member(name, entry)
    raise KeyError(f"AgentSupervisor {sup.metadata.name!r} has no child {name!r} in its spec")
