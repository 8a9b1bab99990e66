"""`agent-supervisor demo --validate-only`: validate the example manifests and show the supervision trees
they declare, without a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent_supervisor.api import Agent, AgentSupervisor, ChildSpec, SupervisorSpec, field_issues


def documents(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict):
            yield doc


def _tree_lines(spec: SupervisorSpec, indent: str) -> Iterator[str]:
    for child in spec.children:
        yield indent + _child_line(child)
        if child.supervisor is not None:
            yield from _tree_lines(child.supervisor, indent + "    ")


def _child_line(child: ChildSpec) -> str:
    flags = [child.effective_restart.value]
    if child.significant:
        flags.append("significant")
    if child.supervisor is not None:
        sup = child.supervisor
        what = f"supervisor {sup.strategy.value}, {sup.max_restarts} restarts / {sup.period_seconds}s"
    elif child.worker is not None:
        what = f"worker {child.worker.image}"
    else:
        assert child.template is not None
        what = "task agent" if child.template.task else "service agent"
        if child.pool is not None:
            names = child.member_names
            span = f", {names[0]} .. {names[-1]}" if names else ""
            what = f"pool of {child.pool.replicas} {what}s{span}"
    return f"- {child.name}: {what} ({', '.join(flags)})"


def describe(doc: dict[str, Any]) -> list[str]:
    """One resource as readable lines; raises ValidationError for an invalid one."""
    kind = doc.get("kind", "")
    name = doc.get("metadata", {}).get("name", "?")
    if kind == "AgentSupervisor":
        sup = AgentSupervisor.model_validate(doc)
        head = (
            f"AgentSupervisor {name}: {sup.spec.strategy.value}, "
            f"at most {sup.spec.max_restarts} restarts in {sup.spec.period_seconds}s"
        )
        return [head, *_tree_lines(sup.spec, "    ")]
    if kind == "Agent":
        agent = Agent.model_validate(doc)
        mode = "task agent" if agent.spec.task else "service agent"
        return [f"Agent {name}: {mode}, model {agent.spec.model.name} ({agent.spec.effective_restart.value})"]
    return [f"{kind} {name}"]


def validate(folder: Path) -> int:
    """Print every resource of the folder's manifests; 1 if any is invalid."""
    failures = 0
    for path in sorted(folder.glob("*.yaml")):
        print(f"== {path.name}")
        for doc in documents(path):
            try:
                print("\n".join(describe(doc)))
            except ValidationError as err:
                failures += 1
                for issue in field_issues(err):
                    print(f"   INVALID {issue.field}: {issue.message}")
    print(f"\n{'all examples are valid' if not failures else f'{failures} invalid resource(s)'}")
    return 1 if failures else 0
