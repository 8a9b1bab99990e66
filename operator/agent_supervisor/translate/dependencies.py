"""Dependency outages as conditions: an Agent's DependencyAvailable, and its supervisor's Degraded.

Pure translation of what the agent's runtime reports in `/v1/status` (`dependencies`: each dependency that is
unavailable now, with its host and the last failure) into conditions. An outage is not an exit: nothing here
touches the supervision core, so no restart happens and no restart intensity is spent.

- Agent, DependencyAvailable: False with reason ModelUnavailable while the runtime reports the model
  unavailable (the message names the host and the last failure, never the URL); True (Available) otherwise.
- AgentSupervisor, Degraded: True with reason DependencyUnavailable naming the children whose
  DependencyAvailable is False; False (AllAvailable) otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.translate.conditions import Judgement

T, F = api.ConditionStatus.TRUE, api.ConditionStatus.FALSE
REASONS: Final = {"model": "ModelUnavailable"}
"""The condition reason per dependency the runtime names; others get `<Name>Unavailable`."""
MAX_NAMED: Final = 5


def _reason(dependency: str) -> str:
    return REASONS.get(dependency, f"{dependency[:1].upper()}{dependency[1:]}Unavailable")


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


def degraded_judgement(children: Mapping[str, Sequence[api.Condition]]) -> Judgement:
    """The supervisor's Degraded from its children's conditions (child name -> its conditions)."""
    waiting = sorted(
        name
        for name, conditions in children.items()
        if (found := api.find_condition(conditions, api.ConditionType.DEPENDENCY_AVAILABLE)) is not None
        and found.status == F
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
