"""What a supervisor's reconcile reads from the resource, kept while the resource has not changed.

Parsing a supervisor and projecting it onto the core, and reading the supervision state back from its
status, each take time in proportion to its children, and a group restart reconciles a supervisor once per
step: at 50 children they were a fifth of the operator's time. The spec is the same for as long as the
resource's generation, labels and annotations are; the stored supervision is the one this process wrote for
as long as the resourceVersion it wrote is the one read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent_supervisor import api
from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.supervision import SupervisorSpec
from agent_supervisor.translate.projection import parse_supervisor, supervisor_spec
from agent_supervisor.translate.stored_supervision import Supervision


def _identity(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """What the parsed spec depends on besides `spec` itself, which changes only with the generation."""
    return (
        str(meta.get("uid")),
        str(meta.get("generation")),
        json.dumps(meta.get("labels") or {}, sort_keys=True),
        json.dumps(meta.get("annotations") or {}, sort_keys=True),
    )


class SupervisorReadings:
    def __init__(self) -> None:
        self._specs: dict[ObjectKey, tuple[tuple[str, ...], api.AgentSupervisor, SupervisorSpec]] = {}
        self._stored: dict[ObjectKey, tuple[str, Supervision]] = {}

    def spec(self, key: ObjectKey, obj: Mapping[str, Any]) -> tuple[api.AgentSupervisor, SupervisorSpec]:
        """The parsed resource and its projection onto the core. Raises InvalidResourceError."""
        identity = _identity(obj.get("metadata") or {})
        kept = self._specs.get(key)
        if kept is not None and kept[0] == identity:
            return kept[1], kept[2]
        sup = parse_supervisor(obj)
        spec = supervisor_spec(sup)
        self._specs[key] = (identity, sup, spec)
        return sup, spec

    def stored(self, key: ObjectKey, obj: Mapping[str, Any]) -> Supervision | None:
        """The supervision in `obj`'s status, if this process wrote that very version (else None: read it)."""
        kept = self._stored.get(key)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        return kept[1] if kept is not None and kept[0] == version else None

    def written(self, key: ObjectKey, obj: Mapping[str, Any], supervision: Supervision) -> None:
        """`obj` (as written or read) holds `supervision` in its status."""
        self._stored[key] = (str((obj.get("metadata") or {}).get("resourceVersion")), supervision)

    def forget(self, key: ObjectKey) -> None:
        self._specs.pop(key, None)
        self._stored.pop(key, None)
