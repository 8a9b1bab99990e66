"""Dependency outages as conditions: an Agent's DependencyAvailable, and its supervisor's Degraded.

Pure translation of what the agent's runtime reports in `/v1/status` (`dependencies`: each dependency that is
unavailable now, with its host and the last failure) into conditions. An outage is not an exit: nothing here
touches the supervision core, so no restart happens and no restart intensity is spent.

- Agent, DependencyAvailable: False with reason ModelUnavailable while the runtime reports the model
  unavailable, McpServerUnavailable for an MCP tool server (`mcp:<server>`) (the message names the
  dependency, its host and the last failure, never the URL); True (Available) otherwise.
- AgentSupervisor, Degraded: True with reason DependencyUnavailable naming the agent children whose
  DependencyAvailable is False and the child supervisors that are Degraded themselves (so an outage deep in
  a tree shows at its root); False (AllAvailable) otherwise. An Event marks each change of its status.

The operator reads the runtime status of each serving agent pod when its `/v1/events` stream (re)connects or
sends a `dependency_*` event (controller/dependency_watch.py); which pods to follow, what to keep of a status,
and which Event a change posts are decided here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.translate import labels
from agent_supervisor.translate.conditions import Judgement, apply, changed, parse_conditions
from agent_supervisor.translate.pods import pod_is_ready

T, F = api.ConditionStatus.TRUE, api.ConditionStatus.FALSE
REASONS: Final = {"model": "ModelUnavailable"}
"""The condition reason per dependency the runtime names; others get `<Name>Unavailable`."""
PREFIX_REASONS: Final = {"mcp:": "McpServerUnavailable"}
"""The reason per family of dependency the runtime names with a prefix (`mcp:<server>`)."""
MAX_NAMED: Final = 5
STREAM_EVENTS: Final = frozenset({"dependency_unavailable", "dependency_available"})
"""The runtime's `/v1/events` types after which its `/v1/status` is read again."""
_KEPT: Final = ("name", "available", "host", "reason", "since", "waits")


def _reason(dependency: str) -> str:
    for prefix, reason in PREFIX_REASONS.items():
        if dependency.startswith(prefix):
            return reason
    if dependency in REASONS:
        return REASONS[dependency]
    # A condition reason is CamelCase letters and digits: anything else in a name the runtime invents is
    # dropped rather than making the whole status write invalid.
    camel = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", dependency))
    return f"{camel if camel[:1].isalpha() else 'Dependency'}Unavailable"


def outages(runtime_status: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The unavailable dependencies in a runtime's `/v1/status` body; malformed entries are ignored."""
    entries = (runtime_status or {}).get("dependencies")
    if not isinstance(entries, list):
        return []
    return [
        entry
        for entry in entries
        if isinstance(entry, Mapping)
        and entry.get("available") is False
        and isinstance(entry.get("name"), str)
    ]


def dependency_judgement(runtime_status: Mapping[str, Any] | None) -> Judgement:
    """The Agent's DependencyAvailable from its runtime's latest status (None: nothing reported yet)."""
    down = outages(runtime_status)
    if not down:
        return Judgement(api.ConditionType.DEPENDENCY_AVAILABLE, T, "Available")
    first = down[0]
    name, host = str(first["name"]), str(first.get("host") or "")
    failure = str(first.get("reason") or "no answer")
    message = (
        f"{name} endpoint {host} unavailable past its retries ({failure}); the agent keeps its place and "
        "resumes when it answers"
    )
    others = [str(entry["name"]) for entry in down[1:]]
    if others:
        message += f"; also unavailable: {', '.join(others)}"
    return Judgement(api.ConditionType.DEPENDENCY_AVAILABLE, F, _reason(name), message)


def _has(conditions: Sequence[api.Condition], kind: api.ConditionType, status: api.ConditionStatus) -> bool:
    found = api.find_condition(conditions, kind)
    return found is not None and found.status == status


def degraded_judgement(
    children: Mapping[str, Sequence[api.Condition]],
    supervisors: Mapping[str, Sequence[api.Condition]] | None = None,
) -> Judgement:
    """The supervisor's Degraded from its children's conditions (child name -> its conditions): its agent
    children's DependencyAvailable and its child supervisors' own Degraded."""
    waiting = sorted(
        name
        for name, conditions in children.items()
        if _has(conditions, api.ConditionType.DEPENDENCY_AVAILABLE, F)
    )
    waiting += sorted(
        f"{name} (a degraded child supervisor)"
        for name, conditions in (supervisors or {}).items()
        if _has(conditions, api.ConditionType.DEGRADED, T)
    )
    if not waiting:
        return Judgement(api.ConditionType.DEGRADED, F, "AllAvailable")
    named = ", ".join(waiting[:MAX_NAMED])
    if len(waiting) > MAX_NAMED:
        named += f" and {len(waiting) - MAX_NAMED} more"
    return Judgement(
        api.ConditionType.DEGRADED,
        T,
        "DependencyUnavailable",
        f"waiting for an unavailable dependency (no restart, no restart intensity spent): {named}",
    )


# --- Which pods are followed, and what is kept of their status ---------------------------------------------


def followed_agent(pod: Mapping[str, Any]) -> str | None:
    """The Agent whose runtime `pod` serves, while its outages are worth following (Ready, not deleted).

    A pod that is not Ready has no outage to report: it is starting, stopping or gone, which the supervision
    core sees by itself. Worker pods carry no agent label: they run no agent runtime.
    """
    meta = pod.get("metadata") or {}
    agent = (meta.get("labels") or {}).get(labels.AGENT)
    ip = (pod.get("status") or {}).get("podIP")
    if not agent or not ip or meta.get("deletionTimestamp") or not pod_is_ready(pod):
        return None
    return str(agent)


def kept_report(runtime_status: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a `/v1/status` body: the dependencies only (the rest, a task's prompt among
    it, is not the operator's business and would only cost memory)."""
    entries = runtime_status.get("dependencies")
    kept = [
        {key: entry[key] for key in _KEPT if key in entry}
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, Mapping)
    ]
    return {"dependencies": kept}


# --- The Agent's condition, and the Events on its transitions ----------------------------------------------


def agent_dependency(report: Mapping[str, Any] | None, serving: bool) -> Judgement | None:
    """The Agent's DependencyAvailable now: from its serving pod's latest report; None keeps the stored one.

    A serving pod whose status has not been read yet (the operator just started, the stream is connecting)
    keeps the previous verdict rather than flapping to True and back. With no serving pod nothing waits.
    """
    if report is not None:
        return dependency_judgement(report)
    return None if serving else dependency_judgement(None)


def with_judgement(raw_conditions: Any, judgement: Judgement | None) -> list[api.Condition]:
    """A child Agent's conditions as the supervisor should see them: the stored ones with a fresher
    DependencyAvailable in place (the index may not have the Agent's own status write yet)."""
    stored = parse_conditions(raw_conditions)
    # Only the statuses are read from the result: no generation or time is needed.
    return stored if judgement is None else apply(stored, [judgement], None, 0)


@dataclass(frozen=True, slots=True)
class Notice:
    """A Kubernetes Event to post about the Agent."""

    type: str
    reason: str
    message: str


def degraded_notice(before: Any, after: Any) -> Notice | None:
    """The Event a change of the supervisor's Degraded between two raw condition lists is worth, if any: only
    a change of its status (a first False, a supervisor that never was degraded, posts nothing)."""
    moved = changed(before, after, api.ConditionType.DEGRADED)
    if moved is None:
        return None
    old, new = moved
    if new.status == T:
        return Notice("Warning", "Degraded", new.message)
    if old is None:
        return None
    return Notice("Normal", "AllAvailable", "no child waits for an unavailable dependency any more")


def transition_notice(before: Any, after: Any) -> Notice | None:
    """The Event a change of DependencyAvailable between two raw condition lists is worth, if any.

    Only transitions are news: a first True (an agent that never waited) posts nothing, a first False does.
    """
    moved = changed(before, after, api.ConditionType.DEPENDENCY_AVAILABLE)
    if moved is None:
        return None
    old, new = moved
    if new.status == F:
        return Notice("Warning", "DependencyUnavailable", new.message)
    if old is None:
        return None
    return Notice("Normal", "DependencyAvailable", f"available again after {old.reason}; the agent resumed")
