"""Kubernetes checkpoint backend: the blob lives in one ConfigMap's binaryData, written via the API server.

The operator pre-creates and owns the ConfigMap (`<agent>-checkpoint`) and grants the pod's service account
get and update on that one object, so the checkpoint survives pod deletion and is garbage-collected with the
Agent. Writes are optimistic: PUT with the last seen resourceVersion; on 409 Conflict reread and write again.
"""

import asyncio
import base64
from typing import Any, Final

import httpx

from agent_runtime.checkpoint.base import CheckpointError
from agent_runtime.kube import KubeAccess

DATA_KEY: Final = "checkpoint.json.gz"
_ATTEMPTS: Final = 5
_RETRYABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})


class KubernetesCheckpointStore:
    def __init__(self, access: KubeAccess, namespace: str, config_map: str) -> None:
        self._access = access
        self._path = f"/api/v1/namespaces/{namespace}/configmaps/{config_map}"
        self._collection = f"/api/v1/namespaces/{namespace}/configmaps"
        self._name = config_map
        self._namespace = namespace
        self._object: dict[str, Any] | None = None
        self._client = access.client()

    def _where(self) -> str:
        return f"ConfigMap {self._namespace}/{self._name}"

    async def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One API call, retried on transport errors and 429/5xx with a short doubling pause."""
        pause = 0.2
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = await self._client.request(
                    method, url, json=body, headers=self._access.auth_headers()
                )
            except httpx.TransportError as err:
                if attempt == _ATTEMPTS:
                    raise CheckpointError(f"{self._where()}: API server unreachable: {err!r}") from err
            else:
                if response.status_code not in _RETRYABLE_STATUS or attempt == _ATTEMPTS:
                    return response
            await asyncio.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _fail(self, action: str, response: httpx.Response) -> CheckpointError:
        try:
            detail = response.json().get("message", response.text)
        except ValueError:
            detail = response.text
        hint = " (the pod's service account needs get/update on it)" if response.status_code == 403 else ""
        return CheckpointError(
            f"{action} {self._where()} failed: HTTP {response.status_code}: {detail}{hint}"
        )

    async def _read(self) -> dict[str, Any] | None:
        response = await self._request("GET", self._path)
        if response.status_code == 404:
            self._object = None
            return None
        if response.status_code != 200:
            raise self._fail("reading", response)
        self._object = response.json()
        return self._object

    async def load(self) -> bytes | None:
        found = await self._read()
        encoded = ((found or {}).get("binaryData") or {}).get(DATA_KEY)
        return base64.b64decode(encoded) if encoded else None

    async def save(self, blob: bytes) -> None:
        await self._write({DATA_KEY: base64.b64encode(blob).decode("ascii")})

    async def clear(self) -> None:
        found = await self._read()
        # Nothing stored (never saved, or cleared already): no write. Every start of an agent with
        # `resume: false` clears: one that saved nothing since costs a GET before /readyz, not two calls.
        if found is not None and found.get("binaryData"):
            await self._write({})

    async def _write(self, binary_data: dict[str, str]) -> None:
        for _ in range(_ATTEMPTS):
            if self._object is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": self._name, "namespace": self._namespace},
                    "binaryData": binary_data,
                }
                response = await self._request("POST", self._collection, body)
                if response.status_code == 409:  # created meanwhile by the operator: read it and update
                    await self._read()
                    continue
            else:
                body = {**self._object, "binaryData": binary_data}
                response = await self._request("PUT", self._path, body)
                if response.status_code in (404, 409):
                    await self._read()
                    continue
            if response.status_code not in (200, 201):
                raise self._fail("writing", response)
            self._object = response.json()
            return
        raise CheckpointError(f"writing {self._where()}: still conflicting after {_ATTEMPTS} rereads")

    async def close(self) -> None:
        await self._client.aclose()
