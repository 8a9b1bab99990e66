"""The hostile corpus as manifests: the compact cases of cases.yaml laid onto a base Agent or supervisor."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CASES = Path(__file__).resolve().parent / "cases.yaml"
DELETE = "$delete"
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Case:
    id: str
    manifest: dict[str, Any]
    field: str
    rejected: bool  # False: accepted by the API server, then marked Invalid by the operator

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def plural(self) -> str:
        return "agents" if self.manifest["kind"] == "Agent" else "agentsupervisors"


def agent_template() -> dict[str, Any]:
    return {"model": {"endpoint": "http://127.0.0.1:9/v1", "name": "scripted"}, "systemPrompt": "You help."}


def base(kind: str, name: str) -> dict[str, Any]:
    if kind == "Agent":
        spec: dict[str, Any] = agent_template()
    else:
        spec = {"children": [{"name": "a", "shutdown": {"brutalKill": True}, "agent": agent_template()}]}
    return {"apiVersion": "otp.agents.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def generated(value: Any) -> Any:
    """Expand the generators cases.yaml uses to keep huge and deep values out of the file."""
    if isinstance(value, dict):
        if "$repeat" in value:
            return str(value["$repeat"]) * int(value["$times"])
        if "$agents" in value:
            return [{"name": f"c{i}", "agent": agent_template()} for i in range(int(value["$agents"]))]
        if "$nest" in value:
            nested: dict[str, Any] = {"leaf": 1}
            for _ in range(int(value["$nest"])):
                nested = {"n": nested}
            return nested
        return {key: generated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [generated(item) for item in value]
    return value


def set_path(manifest: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` (`spec.children[1].name`) to `value`; a list index one past the end appends."""
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(path)]
    node: Any = manifest
    for step, following in itertools.pairwise(steps):
        if isinstance(step, int):
            node = node[step]
        else:
            if not isinstance(node.get(step), dict | list):
                node[step] = [] if isinstance(following, int) else {}
            node = node[step]
    last = steps[-1]
    if value == DELETE:
        del node[last]
    elif isinstance(last, int) and last == len(node):
        node.append(value)
    else:
        node[last] = value


def load() -> list[Case]:
    cases = []
    for entry in yaml.safe_load(CASES.read_text(encoding="utf-8"))["cases"]:
        manifest = base(entry["kind"], entry["id"])
        for path, value in (entry.get("set") or {}).items():
            set_path(manifest, path, copy.deepcopy(generated(value)))
        rejected = "rejected" in entry
        field = entry["rejected"] if rejected else entry["invalid"]
        cases.append(Case(entry["id"], manifest, str(field), rejected))
    return cases
