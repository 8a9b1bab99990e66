"""A small JSON client for the Kubernetes API: just what the kubelet needs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code, ``reason`` the Status reason when there is one."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


class WatchExpiredError(Exception):
    """The watch's resourceVersion is too old (an in-stream ERROR event with code 410): list again."""


async def _raise_for(response: aiohttp.ClientResponse) -> None:
    if response.status < 300:
        return
    text = await response.text()
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    raise ApiError(response.status, str(body.get("reason", "")), str(body.get("message", text)))


class ApiClient:
    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._session = session

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, body=body)

    async def put(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", path, body=body)

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def delete(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("DELETE", path, body=body)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self._session.request(
            method, self._base + path, params=params, data=data, headers=headers
        ) as response:
            await _raise_for(response)
            result = await response.json(content_type=None)
            return result if isinstance(result, dict) else {}

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events until the stream ends; raises WatchExpiredError on an ERROR event with 410."""
        query = {**params, "watch": "true"}
        async with self._session.get(
            self._base + path, params=query, headers=self._headers, timeout=aiohttp.ClientTimeout(total=None)
        ) as response:
            await _raise_for(response)
            buffer = b""
            # Lines are split by hand: one event (a large pod) can exceed aiohttp's readline limit.
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        if status.get("code") == 410:
                            raise WatchExpiredError(str(status.get("message", "resourceVersion too old")))
                        raise ApiError(
                            int(status.get("code", 500)), str(status.get("reason", "")), str(status)
                        )
                    yield event
