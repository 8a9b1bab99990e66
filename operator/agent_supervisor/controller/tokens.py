"""The bearer token each supervision tree's agents share for their messaging API (docs/operator-design.md)."""

from __future__ import annotations

import base64
import binascii
import secrets

from agent_supervisor import api
from agent_supervisor.controller.kube import SECRETS, AlreadyExistsError, KubeClient
from agent_supervisor.translate import labels, manifests


class MessagingTokens:
    """The bearer token each tree's agents share, kept in the root's `<root>-messaging` Secret.

    The operator creates the Secret (owned by the root) and reads the token back to call the agents' API.
    """

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._tokens: dict[tuple[str, str], str] = {}

    async def ensure(self, root: api.Agent | api.AgentSupervisor) -> str:
        namespace, name = root.metadata.namespace or "", root.metadata.name or ""
        known = self._tokens.get((namespace, name))
        if known is not None:
            return known
        token = secrets.token_urlsafe(32)
        try:
            await self._kube.create(SECRETS, namespace, manifests.messaging_secret(root, token))
        except AlreadyExistsError:
            return await self.read(namespace, name)
        self._tokens[(namespace, name)] = token
        return token

    async def read(self, namespace: str, root: str) -> str:
        known = self._tokens.get((namespace, root))
        if known is not None:
            return known
        secret = await self._kube.get(SECRETS, namespace, labels.messaging_secret_name(root))
        encoded = (secret.get("data") or {}).get(labels.MESSAGING_TOKEN_KEY, "")
        try:
            token = base64.b64decode(encoded).decode()
        except (binascii.Error, UnicodeDecodeError):
            token = ""
        if token:
            self._tokens[(namespace, root)] = token
        return token

    def forget(self, namespace: str, root: str) -> None:
        self._tokens.pop((namespace, root), None)
