"""`agent-supervisor observer`: the web page of the live supervision trees, pushed to the browser.

The I/O shell around view.py: one list-then-watch loop per watched kind and namespace keeps a local copy of
AgentSupervisors, Agents, Events and the operator's pods; after each burst of changes one snapshot is built
(view.snapshot) and pushed to every open page as a Server-Sent Event. The page never polls: it renders what
arrives, and fetches a pod's log tail or an agent's runtime summary when a node is selected.

Nothing here reads a Secret: the RBAC the chart grants has none, and the runtime facts come from the Agent's
status and the runtime's token-free summary (docs/cli.md, "Observer").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

from aiohttp import ClientError, web

from agent_supervisor.cli.observer import kube, view
from agent_supervisor.cli.observer.kube import Kind, ObserverError

log = logging.getLogger(__name__)

STATIC: Final = {"observer.js": "text/javascript", "observer.css": "text/css"}
LOG_LINES: Final = 40
REFRESH_SECONDS: Final = 30.0
"""A snapshot is pushed this often even without changes: restarts leave the intensity window in time."""
BURST_SECONDS: Final = 0.05
"""Changes that arrive together (a group restart writes several objects) make one snapshot."""
RETRY_SECONDS: Final = 2.0
KEEPALIVE_SECONDS: Final = 15.0


def parser(prog: str) -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve a web page of the live supervision trees: nodes coloured by phase, a timeline of "
            "restarts, and each node's conditions, restarts, last exits with their log tail and runtime "
            "summary. Updated from watches and pushed to the browser; read-only."
        ),
    )
    parse.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="namespace to watch; repeat for more (default: the kubeconfig context's, else default)",
    )
    parse.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parse.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    parse.add_argument("--context", help="kubeconfig context to use (default: the current context)")
    parse.add_argument(
        "--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 in a pod)"
    )
    parse.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    return parse


# --- The local copy -----------------------------------------------------------------------------------------


@dataclass
class Mirror:
    """The watched objects by kind and (namespace, name), and a version that grows with every change."""

    objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(
        default_factory=lambda: {kind.name: {} for kind in kube.KINDS}
    )
    version: int = 0
    listed: set[tuple[str, str | None]] = field(default_factory=set)
    problems: dict[tuple[str, str | None], str] = field(default_factory=dict)
    """Why a kind cannot be listed or watched in a namespace (RBAC, CRDs missing), until it can again."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @staticmethod
    def key(obj: Mapping[str, Any]) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def replace(self, kind: Kind, namespace: str | None, items: Sequence[dict[str, Any]]) -> None:
        store = self.objects[kind.name]
        for key in [k for k in store if namespace is None or k[0] == namespace]:
            del store[key]
        for item in items:
            if _wanted(kind, item):
                store[self.key(item)] = item
        self.listed.add((kind.name, namespace))
        self.problems.pop((kind.name, namespace), None)
        self._bump()

    def fail(self, kind: Kind, namespace: str | None, problem: str) -> None:
        """`kind` cannot be read in `namespace` for now: the page says so instead of waiting for it."""
        if self.problems.get((kind.name, namespace)) != problem:
            self.problems[(kind.name, namespace)] = problem
            self._bump()

    def settled(self) -> int:
        """How many (kind, namespace) pairs have been listed or have failed: the page waits for all."""
        return len(self.listed | set(self.problems))

    def apply(self, kind: Kind, change: str, obj: dict[str, Any]) -> None:
        store = self.objects[kind.name]
        if change == "DELETED":
            store.pop(self.key(obj), None)
        elif _wanted(kind, obj):
            store[self.key(obj)] = obj
        else:
            return
        self._bump()

    def _bump(self) -> None:
        self.version += 1
        self.changed.set()

    def find(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects[kind.name].get((namespace, name))

    def snapshot(self) -> dict[str, Any]:
        lists = {name: list(store.values()) for name, store in self.objects.items()}
        shown = view.snapshot(
            lists[kube.SUPERVISORS.name],
            lists[kube.AGENTS.name],
            lists[kube.EVENTS.name],
            lists[kube.PODS.name],
            datetime.now(UTC),
        )
        shown["problems"] = sorted(self.problems.values())
        return shown


def _wanted(kind: Kind, obj: Mapping[str, Any]) -> bool:
    """Events about other kinds are dropped at once: a namespace's Events are mostly about pods."""
    if kind is not kube.EVENTS:
        return True
    involved = obj.get("involvedObject") or {}
    return isinstance(involved, Mapping) and involved.get("kind") in (kube.SUPERVISORS.name, kube.AGENTS.name)


async def follow(api: Any, mirror: Mirror, kind: Kind, namespace: str | None) -> None:
    """List, then watch from the list's version; list again when the version is too old or the watch broke."""
    while True:
        try:
            items, version = await kube.list_items(api, kind, namespace)
            mirror.replace(kind, namespace, items)
            while True:
                async for change, obj in kube.watch(api, kind, namespace, version):
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if change != "BOOKMARK":
                        mirror.apply(kind, change, obj)
        except kube.GoneError:
            continue
        except asyncio.CancelledError:
            raise
        except Exception as err:
            # The page keeps showing the last state and says what is wrong; the watch is retried.
            where = namespace or "all namespaces"
            log.warning("watching %s in %s: %s; retrying", kind.plural, where, err)
            mirror.fail(kind, namespace, f"{kind.plural} in {where}: {err}")
            await asyncio.sleep(RETRY_SECONDS)


# --- Pushing to the page ------------------------------------------------------------------------------------


@dataclass
class Broadcast:
    """The newest snapshot as SSE data, rebuilt once per burst of changes, and a condition pages wait on."""

    mirror: Mirror
    data: str = ""
    number: int = 0
    fresh: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self, expected: int) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.mirror.changed.wait(), REFRESH_SECONDS)
            await asyncio.sleep(BURST_SECONDS)
            self.mirror.changed.clear()
            # A tree built before every kind is listed would lose its nesting for a moment: wait for all.
            if self.mirror.settled() < expected:
                continue
            self.data = json.dumps(self.mirror.snapshot(), separators=(",", ":"))
            async with self.fresh:
                self.number += 1
                self.fresh.notify_all()


API: Final = web.AppKey("api", object)
"""The kubernetes_asyncio ApiClient (untyped)."""
MIRROR: Final = web.AppKey("mirror", Mirror)
BROADCAST: Final = web.AppKey("broadcast", Broadcast)


async def _events(request: web.Request) -> web.StreamResponse:
    broadcast: Broadcast = request.app[BROADCAST]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    sent = 0
    while True:
        async with broadcast.fresh:
            if broadcast.number == sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(broadcast.fresh.wait(), KEEPALIVE_SECONDS)
        if broadcast.number == sent:
            await response.write(b": keep-alive\n\n")
            continue
        sent = broadcast.number
        await response.write(f"event: snapshot\nid: {sent}\ndata: {broadcast.data}\n\n".encode())


# --- On demand: a pod's log tail and an agent's runtime summary ---------------------------------------------


def _asked(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise web.HTTPBadRequest(text=f"the query parameter {name} is required")
    return value


async def _log(request: web.Request) -> web.Response:
    namespace, pod_name = _asked(request, "namespace"), _asked(request, "pod")
    mirror: Mirror = request.app[MIRROR]
    # Only the operator's pods, which the page lists: not a way to read any pod's log.
    pod = mirror.find(kube.PODS, namespace, pod_name)
    if pod is None:
        raise web.HTTPNotFound(text=f"no pod {pod_name} of an agent or worker in namespace {namespace}")
    ended = view.pod_exit(pod)
    container = None if ended is None else ended["container"]
    try:
        text = await kube.log_tail(request.app[API], namespace, pod_name, container, LOG_LINES)
    except (ObserverError, ClientError, OSError, TimeoutError) as err:
        return web.json_response({"pod": pod_name, "error": str(err)})
    return web.json_response({"pod": pod_name, "log": text})


async def _runtime(request: web.Request) -> web.Response:
    namespace, agent = _asked(request, "namespace"), _asked(request, "agent")
    if request.app[MIRROR].find(kube.AGENTS, namespace, agent) is None:
        raise web.HTTPNotFound(text=f"no Agent {agent} in namespace {namespace}")
    try:
        summary = await kube.runtime_summary(request.app[API], namespace, agent)
    except (ObserverError, ClientError, OSError, TimeoutError) as err:
        return web.json_response({"agent": agent, "error": str(err)})
    return web.json_response({"agent": agent, "summary": summary})


# --- The page -----------------------------------------------------------------------------------------------


def _asset(name: str) -> bytes:
    return resources.files("agent_supervisor.cli.observer").joinpath("static", name).read_bytes()


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=_asset("index.html"), content_type="text/html", charset="utf-8")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_asset(name), content_type=STATIC[name], charset="utf-8")


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    # Everything the page needs is served here: no other origin may be loaded, framed or posted to.
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def application(api: Any, namespaces: Sequence[str | None]) -> web.Application:
    """The web app, with the watches running while it serves (None in `namespaces`: all namespaces)."""
    app = web.Application(middlewares=[_headers])
    mirror = Mirror()
    broadcast = Broadcast(mirror)
    app[API], app[MIRROR], app[BROADCAST] = api, mirror, broadcast

    async def watching(app: web.Application) -> Any:
        tasks = [
            asyncio.create_task(follow(api, mirror, kind, namespace), name=f"watch-{kind.plural}")
            for kind in kube.KINDS
            for namespace in namespaces
        ]
        tasks.append(asyncio.create_task(broadcast.run(len(tasks)), name="broadcast"))
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.close()

    app.cleanup_ctx.append(watching)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/events", _events)
    app.router.add_get("/api/log", _log)
    app.router.add_get("/api/runtime", _runtime)
    app.router.add_get("/healthz", _ok)
    return app


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _serve(args: argparse.Namespace) -> None:
    api, default_namespace = await kube.connect(args.kubeconfig, args.context)
    namespaces: list[str | None] = (
        [None] if args.all_namespaces else list(dict.fromkeys(args.namespace or [default_namespace]))
    )
    runner = web.AppRunner(application(api, namespaces), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, args.address, args.port).start()
        except OSError as err:
            raise ObserverError(
                f"cannot listen on {args.address}:{args.port}: {err.strerror or err}"
            ) from err
        where = "all namespaces" if namespaces == [None] else ", ".join(str(n) for n in namespaces)
        print(f"observer: serving http://{args.address}:{args.port}/ for {where}", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str], prog: str = "agent-supervisor observer") -> int:
    args = parser(prog).parse_args(list(argv))
    if args.all_namespaces and args.namespace:
        print(f"{prog}: pass either -n NAMESPACE (repeatable) or -A, not both", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(args))
    except ObserverError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
