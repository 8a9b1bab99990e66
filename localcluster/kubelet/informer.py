"""List+watch of one resource into a cache, resuming from the last resourceVersion and re-listing on 410."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from localcluster.kubelet.client import ApiClient, ApiError, WatchExpiredError

logger = logging.getLogger(__name__)

Key = tuple[str, str]
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]

WATCH_TIMEOUT_SECONDS = "290"
RETRY_INITIAL = 0.2
RETRY_MAX = 5.0


def object_key(obj: Mapping[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


class Informer:
    """Keeps ``cache`` equal to the server's objects at ``path`` and calls ``handler`` for each change.

    After a (re-)list, objects that vanished meanwhile are reported as DELETED and the others as ADDED or
    MODIFIED, so the handler sees a consistent stream whatever happened while the watch was down.
    """

    def __init__(
        self, client: ApiClient, path: str, handler: Handler, params: Mapping[str, str] | None = None
    ) -> None:
        self.cache: dict[Key, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._client = client
        self._path = path
        self._handler = handler
        self._params = dict(params or {})

    async def run(self) -> None:
        delay = RETRY_INITIAL
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._list()
                    self.synced.set()
                resource_version = await self._watch(resource_version)
                delay = RETRY_INITIAL
            except WatchExpiredError:
                resource_version = None
            except (aiohttp.ClientError, ApiError, TimeoutError, ValueError) as error:
                if isinstance(error, ApiError) and error.status == 410:
                    resource_version = None
                    continue
                logger.debug("%s: watch failed (%s); retrying in %.1fs", self._path, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _list(self) -> str:
        listing = await self._client.get(self._path, self._params)
        items = {object_key(item): item for item in listing.get("items") or []}
        for key in set(self.cache) - set(items):
            await self._handler("DELETED", self.cache.pop(key))
        for key, item in items.items():
            event = "MODIFIED" if key in self.cache else "ADDED"
            self.cache[key] = item
            await self._handler(event, item)
        return str((listing.get("metadata") or {}).get("resourceVersion", ""))

    async def _watch(self, resource_version: str) -> str:
        params = {
            **self._params,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_TIMEOUT_SECONDS,
        }
        async for event in self._client.watch(self._path, params):
            obj = event.get("object") or {}
            resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
            kind = str(event.get("type"))
            if kind == "BOOKMARK":
                continue
            key = object_key(obj)
            if kind == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
            await self._handler(kind, obj)
        return resource_version
