"""The token the operator controls pod supervisors with (in-place restarts), kept in a Secret so that every
replica and every restart of the operator uses the same one. Pods get only its SHA-256 (agent_pod.py)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import secrets

from agent_supervisor.controller.kube import SECRETS, AlreadyExistsError, KubeClient, NotFoundError
from agent_supervisor.translate import labels, manifests


class ControlTokenError(Exception):
    """The control Secret exists but holds no usable token; the message says how to fix it."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def control_token(kube: KubeClient, namespace: str) -> str:
    """The token in `<namespace>/agent-supervisor-control`, created with a random one if it does not exist."""
    try:
        return _decode(await kube.get(SECRETS, namespace, labels.CONTROL_SECRET), namespace)
    except NotFoundError:
        pass
    # Another replica may create it first (AlreadyExists): then its token is the one read back.
    with contextlib.suppress(AlreadyExistsError):
        await kube.create(SECRETS, namespace, manifests.control_secret(namespace, secrets.token_urlsafe(32)))
    return _decode(await kube.get(SECRETS, namespace, labels.CONTROL_SECRET), namespace)


def _decode(secret: dict[str, object], namespace: str) -> str:
    data = secret.get("data")
    encoded = data.get(labels.CONTROL_TOKEN_KEY, "") if isinstance(data, dict) else ""
    try:
        token = base64.b64decode(str(encoded)).decode()
    except (binascii.Error, UnicodeDecodeError):
        token = ""
    if not token:
        raise ControlTokenError(
            f"Secret {namespace}/{labels.CONTROL_SECRET} has no key {labels.CONTROL_TOKEN_KEY!r}: delete it "
            "and the operator creates a new one (running pods are then restarted by replacing them)"
        )
    return token
