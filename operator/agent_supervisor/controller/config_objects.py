"""An Agent's configuration objects: its config ConfigMap, Service, checkpoint ConfigMap, the Role for that
checkpoint and, unless its spec names a ServiceAccount, its own ServiceAccount and the RoleBinding of the Role
to it. Every Agent (standalone or a supervisor's child) gets them; they are written with server-side apply
(the checkpoint ConfigMap and ServiceAccount are created once), only when the rendered revision is new to this
process.
"""

from __future__ import annotations

import contextlib

from agent_supervisor import api
from agent_supervisor.controller.kube import (
    CONFIG_MAPS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
    AlreadyExistsError,
    KubeClient,
)
from agent_supervisor.translate import labels, manifests
from agent_supervisor.translate.projection import InvalidResourceError
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
        uid = str(agent.metadata.uid or "")
        if self._written.get((namespace, name)) == (uid, rendered.revision):
            return rendered
        await self._kube.apply(CONFIG_MAPS, namespace, manifests.config_map(agent, rendered))
        await self._kube.apply(SERVICES, namespace, manifests.service(agent, self._settings))
        # Created once and never overwritten: the runtime writes the checkpoints into it.
        with contextlib.suppress(AlreadyExistsError):
            await self._kube.create(CONFIG_MAPS, namespace, manifests.checkpoint_config_map(agent))
        await self._kube.apply(ROLES, namespace, manifests.checkpoint_role(agent))
        if not agent.spec.service_account_name:
            await self._own_service_account(agent, uid)
            # Applied, not created: it re-points the bindings older operators made to `default`.
            await self._kube.apply(ROLE_BINDINGS, namespace, manifests.checkpoint_role_binding(agent))
        self._written[(namespace, name)] = (uid, rendered.revision)
        return rendered

    async def _own_service_account(self, agent: api.Agent, uid: str) -> None:
        """Create the agent's ServiceAccount; one of that name that the Agent does not own (a user's, or a
        previous Agent's not yet collected) is refused rather than taken over or bound to its checkpoint."""
        namespace = agent.metadata.namespace or ""
        try:
            await self._kube.create(SERVICE_ACCOUNTS, namespace, manifests.service_account(agent))
            return
        except AlreadyExistsError:
            pass
        name = labels.service_account_name(agent.metadata.name or "")
        existing = await self._kube.get(SERVICE_ACCOUNTS, namespace, name)
        owners = {ref.get("uid") for ref in existing.get("metadata", {}).get("ownerReferences") or []}
        if uid not in owners:
            raise InvalidResourceError(
                [
                    api.FieldIssue(
                        "spec.serviceAccountName",
                        f"the agent's own ServiceAccount {name} exists but does not belong to this Agent: "
                        "delete or rename that ServiceAccount, or name the one to run as here",
                    )
                ]
            )

    def forget(self, namespace: str, name: str) -> None:
        self._written.pop((namespace, name), None)
