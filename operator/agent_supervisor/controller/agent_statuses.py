"""The supervision fields of supervised Agents' statuses, which only their supervisor knows.

Each supervisor reconcile would rebuild every child Agent's status (parsing the Agent, judging its conditions)
to find the one or two that changed: at the width of a large supervisor, a group restart spent more of the
operator's time there than anywhere else. So each Agent's inputs are remembered with the version of the
Agent they were written onto, and an Agent whose inputs and version are unchanged is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.controller.kube import AGENTS, ConflictError, NotFoundError
from agent_supervisor.controller.writer import ResourceWriter
from agent_supervisor.supervision import SupervisorState
from agent_supervisor.translate import labels, observe, status
from agent_supervisor.translate.projection import InvalidResourceError, parse_agent

CONCURRENT_WRITES: Final = 16
"""Status writes to different Agents in flight at once."""
MAX_DEFER_SECONDS: Final = 2.0
"""How long a supervisor's reconciles may leave its Agents' statuses to the next one (see `deferrable`)."""


class SupervisedAgentStatuses:
    def __init__(self, writer: ResourceWriter, retry: Callable[[ObjectKey], None]) -> None:
        self._writer = writer
        self._retry = retry
        self._written: dict[ObjectKey, tuple[tuple[object, ...], frozenset[str]]] = {}
        """Agent key -> (inputs, resourceVersions of the Agent those inputs are reflected in)."""
        self._deferred_since: dict[ObjectKey, float] = {}
        """Supervisor key -> monotonic time its reconciles began to leave the Agents' statuses to the next."""

    def forget(self, key: ObjectKey) -> None:
        self._written.pop(key, None)
        self._deferred_since.pop(key, None)

    def deferrable(self, supervisor: ObjectKey, superseded: bool, clock: float) -> bool:
        """Whether this reconcile of `supervisor` may leave its Agents' statuses to the next one.

        `superseded`: another reconcile of it is queued already (a change came in meanwhile), and it will
        write newer statuses. A group restart's first reconcile sends the stops, whose answers queue the next
        one at once: writing every child's "stopping" first held the decision of the first start behind a
        write per child. Never for longer than MAX_DEFER_SECONDS, so a supervisor that changes all the time
        still has its Agents' statuses written."""
        if not superseded:
            self._deferred_since.pop(supervisor, None)
            return False
        since = self._deferred_since.setdefault(supervisor, clock)
        if clock - since >= MAX_DEFER_SECONDS:
            del self._deferred_since[supervisor]
            return False
        return True

    async def write(
        self,
        supervisor: ObjectKey,
        agents: Iterable[Mapping[str, Any]],
        state: SupervisorState,
        observed: Mapping[str, observe.ObservedChild],
        now: int,
    ) -> None:
        writes: list[tuple[ObjectKey, Mapping[str, Any], dict[str, Any], tuple[object, ...], str]] = []
        for body in agents:
            meta = body["metadata"]
            child = state.find((meta.get("labels") or {}).get(labels.CHILD, ""))
            if child is None:
                continue
            key = ObjectKey(AGENTS.kind, supervisor.namespace, meta.get("name") or "")
            inputs = (
                child,
                status.will_start_again(state, child.name),
                observe.host_pod_name(observed.get(child.name), child.attempt),
                meta.get("generation"),
            )
            version = str(meta.get("resourceVersion"))
            remembered = self._written.get(key)
            if remembered is not None and remembered[0] == inputs and version in remembered[1]:
                continue
            try:
                agent = parse_agent(body)
            except InvalidResourceError:
                continue
            previous = body.get("status")
            desired = status.supervised_agent_status(agent, supervisor.name, state, now, previous, observed)
            writes.append((key, body, desired, inputs, version))
        # Concurrently: a group restart changes every child's status at once, and one request after the other
        # held the supervisor's next step (its reconcile) for a round trip per child. Each batch's requests
        # are made only when it runs, so an error that ends the reconcile leaves no request half-created.
        for first in range(0, len(writes), CONCURRENT_WRITES):
            batch = writes[first : first + CONCURRENT_WRITES]
            await asyncio.gather(*(self._write(supervisor, *write) for write in batch))

    async def _write(
        self,
        supervisor: ObjectKey,
        key: ObjectKey,
        body: Mapping[str, Any],
        desired: dict[str, Any],
        inputs: tuple[object, ...],
        version: str,
    ) -> None:
        try:
            written = await self._writer.write_status(key, AGENTS, dict(body), desired)
        except ConflictError:
            # The agent's own reconcile wrote its config fields meanwhile: ask the parent to go again.
            self._written.pop(key, None)
            self._retry(supervisor)
            return
        except NotFoundError:
            return
        # Until the index has the version just written, it serves the one that was written onto.
        self._written[key] = (inputs, frozenset({version, str(written["metadata"]["resourceVersion"])}))
