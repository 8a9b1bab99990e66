"""Watch responses: newline-delimited JSON events on a 200 response, as kube-apiserver streams them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from . import presentation
from .errors import ApiError, bad_request
from .negotiation import wanted_representation
from .request_options import flag, list_options
from .resources import Resources
from .store import Store
from .target import Target
from .watch import translate

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class WatchStreams:
    """`?watch=true` on a collection: the backlog from the `store` (its objects, or its history since a
    resourceVersion), then the changes its watch hub pushes, each rendered as `resources` serves it."""

    def __init__(self, store: Store, resources: Resources, bookmark_interval: float) -> None:
        self._store = store
        self._resources = resources
        self.bookmark_interval = bookmark_interval

    async def stream(self, request: web.Request, target: Target) -> web.StreamResponse:
        rtype = target.rtype
        matches = self._resources.matcher(rtype, list_options(request))
        namespace = target.namespace if rtype.namespaced else None
        rv_text = request.query.get("resourceVersion", "")
        send_initial = flag(request, "sendInitialEvents")
        bookmarks = flag(request, "allowWatchBookmarks")
        if send_initial and not bookmarks:
            raise bad_request("sendInitialEvents is forbidden for watch unless allowWatchBookmarks=true")
        timeout_text = request.query.get("timeoutSeconds", "")
        try:
            timeout = float(timeout_text) if timeout_text else None
            start_rv = int(rv_text) if rv_text else 0
        except ValueError as exc:
            raise bad_request(f"invalid resourceVersion or timeoutSeconds: {exc}") from exc

        store = self._store
        subscriber = store.hub.subscribe(rtype.key, namespace, matches)
        try:
            backlog: list[tuple[str, dict[str, Any]]] = []
            failure: ApiError | None = None
            if send_initial or start_rv == 0:
                backlog = [("ADDED", obj) for obj in store.objects(rtype.key, namespace) if matches(obj)]
            else:
                try:
                    for event in store.hub.since(start_rv, rtype.key):
                        translated = translate(event, namespace, matches)
                        if translated is not None:
                            backlog.append(translated)
                except ApiError as exc:
                    failure = exc
            # Everything up to here was read synchronously, so the queue holds exactly the later changes.
            backlog_rv = store.rv
            table = wanted_representation(request) == "Table"
            writer = _EventWriter(self._resources, request, target, table)
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await response.prepare(request)
            try:
                if failure is not None:
                    await writer.send(response, "ERROR", failure.status())
                    return response
                for event_type, obj in backlog:
                    await writer.send(response, event_type, obj)
                if send_initial:
                    await writer.bookmark(response, backlog_rv, initial_end=True)
                await self._follow(response, writer, subscriber.queue, bookmarks, timeout)
            except ConnectionResetError:
                pass  # the client went away; nothing left to send
            return response
        finally:
            store.hub.unsubscribe(subscriber)

    async def _follow(
        self,
        response: web.StreamResponse,
        writer: _EventWriter,
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None],
        bookmarks: bool,
        lifetime: float | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if lifetime is None else loop.time() + lifetime
        while True:
            wait = self.bookmark_interval if bookmarks else None
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    return
                wait = left if wait is None else min(wait, left)
            try:
                item = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                # The queue is empty, so every change up to the store's current version has been sent.
                if bookmarks and (deadline is None or loop.time() < deadline):
                    await writer.bookmark(response, self._store.rv)
                continue
            if item is None:
                return
            await writer.send(response, *item)


class _EventWriter:
    def __init__(self, resources: Resources, request: web.Request, target: Target, table: bool) -> None:
        self.resources = resources
        self.target = target
        self.table = table
        self.include_object = request.query.get("includeObject", "")
        self.first = True

    def _render(self, obj: dict[str, Any]) -> dict[str, Any]:
        served = self.resources.served(self.target.rtype, self.target.version, obj)
        if not self.table:
            return served
        rendered = presentation.table(
            self.target.rtype, self.target.version, [served], self.include_object, headers=self.first
        )
        self.first = False
        return rendered

    async def send(self, response: web.StreamResponse, event_type: str, obj: dict[str, Any]) -> None:
        body = obj if event_type == "ERROR" else self._render(obj)
        await response.write(
            json.dumps({"type": event_type, "object": body}, separators=(",", ":")).encode() + b"\n"
        )

    async def bookmark(self, response: web.StreamResponse, rv: int, initial_end: bool = False) -> None:
        rtype = self.target.rtype
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": rtype.kind, "apiVersion": rtype.api_version(self.target.version), "metadata": metadata}
        await response.write(json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n")
