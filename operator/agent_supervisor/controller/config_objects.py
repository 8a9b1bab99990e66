"""An Agent's configuration objects: its config ConfigMap, Service, checkpoint ConfigMap, and the Role and
RoleBinding for that checkpoint. Every Agent (standalone or a supervisor's child) gets them; they are written
with server-side apply, only when the rendered revision is new to this process.
"""

from __future__ import annotations

import contextlib

from agent_supervisor import api
from agent_supervisor.controller.kube import (
    CONFIG_MAPS,
    ROLE_BINDINGS,
    ROLES,
    SERVICES,
    AlreadyExistsError,
    KubeClient,
)
from agent_supervisor.translate import manifests
from agent_supervisor.translate.runtime_config import RenderedConfig, render
from agent_supervisor.translate.settings import OperatorSettings


class AgentConfigs:
    """Writes an Agent's config objects once per (uid, revision) in this process."""

    def __init__(self, kube: KubeClient, settings: OperatorSettings) -> None:
        self._kube = kube
        self._settings = settings
        self._written: dict[tuple[str, str], tuple[str, str]] = {}

    async def ensure(self, agent: api.Agent) -> RenderedConfig:
        """The rendered config, with every object the agent's pod needs in place. Raises RenderError."""
        rendered = render(agent, self._settings.render_context(agent))
        namespace, name = agent.metadata.namespace or "", agent.metadata.name or ""
        uid = str((agent.metadata.model_extra or {}).get("uid", ""))
        if self._written.get((namespace, name)) == (uid, rendered.revision):
            return rendered
        await self._kube.apply(CONFIG_MAPS, namespace, manifests.config_map(agent, rendered))
        await self._kube.apply(SERVICES, namespace, manifests.service(agent, self._settings))
        # Created once and never overwritten: the runtime writes the checkpoints into it.
        with contextlib.suppress(AlreadyExistsError):
            await self._kube.create(CONFIG_MAPS, namespace, manifests.checkpoint_config_map(agent))
        await self._kube.apply(ROLES, namespace, manifests.checkpoint_role(agent))
        await self._kube.apply(ROLE_BINDINGS, namespace, manifests.checkpoint_role_binding(agent))
        self._written[(namespace, name)] = (uid, rendered.revision)
        return rendered

    def forget(self, namespace: str, name: str) -> None:
        self._written.pop((namespace, name), None)
