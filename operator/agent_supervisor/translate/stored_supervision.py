"""What a supervising resource keeps in `status.supervision`: the core's state and the operator's notes.

    status.supervision = {"state": <SupervisorState.to_json()>, "incarnation": 4, "reset": "2"}

`incarnation` (nested supervisors only) is the attempt of the parent that this supervisor is running; its
parent compares it with its own record to tell a current report from a stale one. `reset` is the value of the
`otp.agents.dev/restart` annotation last honoured, so that each new value resets a Failed resource once.
Both live here, beside the state, because the status schema keeps this object as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from agent_supervisor.supervision import SupervisorSpec, SupervisorState


class CorruptSupervisionError(ValueError):
    """`status.supervision` cannot be read; acting on a guess could restart or orphan children."""


@dataclass(frozen=True, slots=True)
class Supervision:
    state: SupervisorState
    incarnation: int | None = None
    reset: str | None = None

    @classmethod
    def read(cls, status: Mapping[str, Any] | None, spec: SupervisorSpec) -> Supervision:
        """The persisted supervision of a resource, or the initial one if it has none yet."""
        stored = (status or {}).get("supervision")
        if not stored:
            return cls(state=SupervisorState.initial(spec))
        if not isinstance(stored, Mapping) or not isinstance(stored.get("state"), Mapping):
            raise CorruptSupervisionError(
                "status.supervision.state is missing: the status was edited by hand; restore it, or delete "
                "status.supervision to start this resource from scratch"
            )
        try:
            state = SupervisorState.from_json(stored["state"])
        except ValidationError as err:
            raise CorruptSupervisionError(f"status.supervision.state cannot be read: {err}") from None
        incarnation = stored.get("incarnation")
        reset = stored.get("reset")
        return cls(
            state=state,
            incarnation=incarnation if isinstance(incarnation, int) else None,
            reset=reset if isinstance(reset, str) else None,
        )

    def with_state(self, state: SupervisorState) -> Supervision:
        return replace(self, state=state)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"state": self.state.to_json()}
        if self.incarnation is not None:
            document["incarnation"] = self.incarnation
        if self.reset is not None:
            document["reset"] = self.reset
        return document
