"""Watch responses: newline-delimited JSON events on a 200 response, as kube-apiserver streams them."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import presentation
from .errors import ApiError, bad_request
from .handlers import Target, list_options
from .negotiation import wanted_representation
from .watch import translate

if TYPE_CHECKING:
    from .server import ApiServer

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _flag(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("true", "1")


class WatchStreams:
    def __init__(self, server: ApiServer, bookmark_interval: float) -> None:
        self.server = server
        self.bookmark_interval = bookmark_interval

    async def stream(self, request: web.Request, target: Target) -> web.StreamResponse:
        server = self.server
        rtype = target.rtype
        matches = server.resources.matcher(rtype, list_options(request))
        namespace = target.namespace if rtype.namespaced else None
        rv_text = request.query.get("resourceVersion", "")
        send_initial = _flag(request, "sendInitialEvents")
        bookmarks = _flag(request, "allowWatchBookmarks")
        if send_initial and not bookmarks:
            raise bad_request("sendInitialEvents is forbidden for watch unless allowWatchBookmarks=true")
        timeout_text = request.query.get("timeoutSeconds", "")
        try:
            timeout = float(timeout_text) if timeout_text else None
            start_rv = int(rv_text) if rv_text else 0
        except ValueError as exc:
            raise bad_request(f"invalid resourceVersion or timeoutSeconds: {exc}") from exc

        store = server.store
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
            writer = _EventWriter(server, request, target, table)
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
                    await writer.bookmark(response, self.server.store.rv)
                continue
            if item is None:
                return
            await writer.send(response, *item)


class _EventWriter:
    def __init__(self, server: ApiServer, request: web.Request, target: Target, table: bool) -> None:
        self.server = server
        self.target = target
        self.table = table
        self.include_object = request.query.get("includeObject", "")
        self.first = True

    def _render(self, obj: dict[str, Any]) -> dict[str, Any]:
        served = self.server.resources.served(self.target.rtype, self.target.version, obj)
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
