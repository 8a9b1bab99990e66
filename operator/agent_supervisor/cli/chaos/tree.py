"""The soak's supervision tree: its manifest, its agents in start order, and what OTP restarts for a crash.

Pure: the auditor and the injector both read the tree from here, so the restart sets the auditor expects are
computed from the same description that produced the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")


@dataclass(frozen=True)
class AgentNode:
    child: str


@dataclass(frozen=True)
class PoolNode:
    child: str
    replicas: int

    def members(self) -> tuple[str, ...]:
        return tuple(f"{self.child}-{index}" for index in range(self.replicas))


@dataclass(frozen=True)
class SupervisorNode:
    child: str
    strategy: str
    children: tuple[AgentNode | PoolNode | SupervisorNode, ...]

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy of {self.child!r} must be one of {STRATEGIES}, got {self.strategy!r}")


Node = AgentNode | PoolNode | SupervisorNode


@dataclass(frozen=True)
class Leaf:
    """One agent of the tree: its Agent resource, the supervisor resource above it, its child name there."""

    agent: str
    supervisor: str
    child: str


# Restart intensity high enough that no soak escalates: the auditor checks restarts, not escalation.
MAX_RESTARTS = 1000
PERIOD_SECONDS = 1


def default_tree(root: str = "chaos") -> SupervisorNode:
    """Three levels of supervisors mixing rest_for_one and one_for_all, with a pool at two of them:

    chaos (rest_for_one): front, team (one_for_all: lead, crew (rest_for_one: planner, workers x2)), pool x2
    """
    crew = SupervisorNode("crew", "rest_for_one", (AgentNode("planner"), PoolNode("workers", 2)))
    team = SupervisorNode("team", "one_for_all", (AgentNode("lead"), crew))
    return SupervisorNode(root, "rest_for_one", (AgentNode("front"), team, PoolNode("pool", 2)))


def _resource(parent: str, child: str) -> str:
    # The operator's naming (translate/labels.child_name): a child's resource is <supervisor>-<child>.
    return f"{parent}-{child}"


def _direct_children(node: SupervisorNode) -> list[tuple[str, Node]]:
    """(child name in the spec, node) in start order; a pool becomes its members."""
    found: list[tuple[str, Node]] = []
    for child in node.children:
        if isinstance(child, PoolNode):
            found.extend((member, AgentNode(member)) for member in child.members())
        else:
            found.append((child.child, child))
    return found


def leaves(root: SupervisorNode) -> list[Leaf]:
    """Every agent of the tree in start order (depth first: a nested supervisor starts all its children
    before its next sibling starts)."""
    return _leaves_below(root, root.child)


def _leaves_below(node: SupervisorNode, resource: str) -> list[Leaf]:
    found: list[Leaf] = []
    for name, child in _direct_children(node):
        if isinstance(child, SupervisorNode):
            found.extend(_leaves_below(child, _resource(resource, name)))
        else:
            found.append(Leaf(_resource(resource, name), resource, name))
    return found


def supervisors(root: SupervisorNode) -> dict[str, list[str]]:
    """Supervisor resource name -> its children's names in start order (pool members one by one)."""
    found: dict[str, list[str]] = {}

    def visit(node: SupervisorNode, resource: str) -> None:
        found[resource] = [name for name, _ in _direct_children(node)]
        for name, child in _direct_children(node):
            if isinstance(child, SupervisorNode):
                visit(child, _resource(resource, name))

    visit(root, root.child)
    return found


def restart_set(root: SupervisorNode, agent: str) -> list[str]:
    """The agents OTP restarts when `agent` crashes (a counted, abnormal exit), in start order: its
    supervisor's strategy picks siblings, and a sibling that is a supervisor brings all its agents."""
    found = _restart_set(root, root.child, agent)
    if found is None:
        raise KeyError(f"{agent} is not an agent of tree {root.child}")
    return found


def _restart_set(node: SupervisorNode, resource: str, agent: str) -> list[str] | None:
    children = _direct_children(node)
    for index, (name, child) in enumerate(children):
        child_resource = _resource(resource, name)
        if isinstance(child, SupervisorNode):
            below = _restart_set(child, child_resource, agent)
            if below is not None:
                return below
        elif child_resource == agent:
            picked: list[tuple[str, Node]]
            if node.strategy == "one_for_one":
                picked = [(name, child)]
            elif node.strategy == "one_for_all":
                picked = children
            else:
                picked = children[index:]
            return [a for n, c in picked for a in _agents_below(c, _resource(resource, n))]
    return None


def siblings(root: SupervisorNode, agent: str) -> set[str]:
    """The agents supervised by the same supervisor as `agent` (itself included)."""
    parent = {leaf.agent: leaf.supervisor for leaf in leaves(root)}
    return {other for other, supervisor in parent.items() if supervisor == parent[agent]}


def _agents_below(node: Node, resource: str) -> list[str]:
    if isinstance(node, SupervisorNode):
        return [leaf.agent for leaf in _leaves_below(node, resource)]
    return [resource]


def manifest(root: SupervisorNode, agent_template: dict[str, Any]) -> dict[str, Any]:
    """The root AgentSupervisor. Every child is killed brutally on a stop, so that no stop is slower than a
    kill and the soak spends its time on restarts."""
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "AgentSupervisor",
        "metadata": {"name": root.child},
        "spec": _spec(root, agent_template),
    }


def _spec(node: SupervisorNode, template: dict[str, Any]) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    for child in node.children:
        entry: dict[str, Any] = {"name": child.child}
        if isinstance(child, SupervisorNode):
            entry["supervisor"] = _spec(child, template)
        elif isinstance(child, PoolNode):
            entry["shutdown"] = {"brutalKill": True}
            entry["pool"] = {"replicas": child.replicas, "template": template}
        else:
            entry["shutdown"] = {"brutalKill": True}
            entry["agent"] = template
        children.append(entry)
    return {
        "strategy": node.strategy,
        "maxRestarts": MAX_RESTARTS,
        "periodSeconds": PERIOD_SECONDS,
        "children": children,
    }
