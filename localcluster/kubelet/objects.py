"""Access to the ConfigMaps and Secrets a pod refers to, and decoding of their values."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol


class ObjectSource(Protocol):
    """Synchronous lookup of the current ConfigMaps and Secrets (the kubelet keeps them cached by watches)."""

    def configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def secret(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...


class StaticObjects:
    """An :class:`ObjectSource` over plain dictionaries, keyed by (namespace, name)."""

    def __init__(
        self,
        configmaps: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
        secrets: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    ) -> None:
        self.configmaps: dict[tuple[str, str], Mapping[str, Any]] = dict(configmaps or {})
        self.secrets: dict[tuple[str, str], Mapping[str, Any]] = dict(secrets or {})

    def configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.configmaps.get((namespace, name))

    def secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.secrets.get((namespace, name))


def configmap_bytes(configmap: Mapping[str, Any]) -> dict[str, bytes]:
    """All keys of a ConfigMap (``data`` as UTF-8, ``binaryData`` base64-decoded)."""
    values = {key: str(value).encode() for key, value in (configmap.get("data") or {}).items()}
    values.update(
        {key: base64.b64decode(value) for key, value in (configmap.get("binaryData") or {}).items()}
    )
    return values


def secret_bytes(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """All keys of a Secret (``data`` is base64; ``stringData`` is honoured in case the store kept it)."""
    values = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    values.update({key: str(value).encode() for key, value in (secret.get("stringData") or {}).items()})
    return values
