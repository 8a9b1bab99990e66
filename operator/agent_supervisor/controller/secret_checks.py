"""The checks of a resource that need the API: the Secrets (and keys) its agents reference exist, and the
operator's policy allows what it uses (the labels of those Secrets included)."""

from __future__ import annotations

from agent_supervisor import api
from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.controller.kube import SECRETS, KubeClient, NotFoundError
from agent_supervisor.translate import policy
from agent_supervisor.translate.projection import InvalidResourceError, referenced_secrets, semantic_problems


class SecretChecks:
    """Reads the referenced Secrets once per (uid, generation) that passed; a failing resource is read again
    at every check, since the missing Secret may have been created (or labelled) meanwhile."""

    def __init__(
        self, kube: KubeClient, allow_test_tools: bool = False, rules: policy.Policy | None = None
    ) -> None:
        self._kube = kube
        self._allow_test_tools = allow_test_tools
        self._policy = rules or policy.Policy()
        self._passed: dict[ObjectKey, tuple[str, int | None]] = {}

    async def check(self, key: ObjectKey, resource: api.Agent | api.AgentSupervisor) -> None:
        """Raise InvalidResourceError for what the CRD could not check, Secrets referenced included, then
        PolicyRefusedError for what the operator's policy refuses."""
        names = referenced_secrets(resource)
        marker = (str(resource.metadata.uid), resource.metadata.generation)
        secrets: dict[str, list[str]] | None = None
        secret_labels: dict[str, dict[str, str]] | None = None
        if names and self._passed.get(key) != marker:
            secrets, secret_labels = {}, {}
            for name in sorted(names):
                try:
                    secret = await self._kube.get(SECRETS, key.namespace, name)
                except NotFoundError:
                    continue
                # Only the keys and labels are kept: the values are never needed, nor held.
                secrets[name] = [*(secret.get("data") or {}), *(secret.get("stringData") or {})]
                secret_labels[name] = dict((secret.get("metadata") or {}).get("labels") or {})
        problems = semantic_problems(resource, secrets, allow_test_tools=self._allow_test_tools)
        if problems:
            raise InvalidResourceError(problems)
        refused = policy.refusals(resource, self._policy, secret_labels)
        if refused:
            raise policy.PolicyRefusedError(refused)
        if secrets is not None:
            self._passed[key] = marker

    def forget(self, key: ObjectKey) -> None:
        self._passed.pop(key, None)
