"""`agent-supervisor tree` and `kubectl otp tree`: the supervision trees in the terminal.

The I/O shell around tree_model (bodies -> trees) and tree_render (trees -> lines): reads the kubeconfig the
kubectl way, lists AgentSupervisors and Agents, prints, and with --watch keeps a local copy of both lists
up to date from watch streams, printing the trees again after each burst of events.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from agent_supervisor.api import GROUP, VERSION
from agent_supervisor.cli import kube_contexts, tree_model, tree_render

PLURALS: Final = {tree_model.SUPERVISOR_KIND: "agentsupervisors", tree_model.AGENT_KIND: "agents"}
CLEAR_SCREEN: Final = "\x1b[H\x1b[2J"
NEEDS_CLIENT: Final = (
    "the tree command needs the Kubernetes client: pip install 'agent-supervisor[cli]' "
    "(the operator extra has it too)"
)


class TreeError(Exception):
    """Something the user can fix: the message says what."""


def parser(prog: str) -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Show the supervision trees of AgentSupervisors and Agents: one line per node with its kind, "
            "strategy, phase, ready children, restarts, restarts in the intensity window out of maxRestarts, "
            "budget left, last exit and age. Colour on a terminal unless NO_COLOR is set."
        ),
    )
    parse.add_argument("name", nargs="?", help="show only the tree below this AgentSupervisor or Agent")
    parse.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    parse.add_argument(
        "-A", "--all-namespaces", action="store_true", help="every namespace (not with a NAME)"
    )
    parse.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    parse.add_argument("--context", help="kubeconfig context to use (default: the current context)")
    parse.add_argument(
        "-w", "--watch", action="store_true", help="print the trees again whenever a resource changes"
    )
    return parse


@dataclass(frozen=True, slots=True)
class Target:
    """What to show: one namespace, or all (None); and one tree, or all (None)."""

    namespace: str | None
    name: str | None


def main(argv: Sequence[str], prog: str = "agent-supervisor tree", out: TextIO | None = None) -> int:
    args = parser(prog).parse_args(list(argv))
    out = out or sys.stdout
    if args.all_namespaces and args.name:
        print(
            f"{prog}: a NAME cannot be looked up across all namespaces; pass -n NAMESPACE instead",
            file=sys.stderr,
        )
        return 2
    try:
        api, namespace = _connect(args.kubeconfig, args.context)
        target = Target(None if args.all_namespaces else (args.namespace or namespace), args.name)
        view = View(
            out,
            target,
            colour=tree_render.wants_colour(_is_tty(out), os.environ),
            branches=tree_render.UNICODE if tree_render.can_draw_boxes(out.encoding) else tree_render.ASCII,
        )
        if args.watch:
            return _watch(api, target, view)
        lists = {kind: _list(api, kind, target.namespace) for kind in PLURALS}
        return view.show({kind: items for kind, (items, _) in lists.items()}, final=True)
    except TreeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _is_tty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except ValueError:  # closed
        return False


# --- Connecting, the kubectl way ----------------------------------------------------------------------------


def _connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """A CustomObjectsApi for the kubeconfig's context (or the pod's own account inside a cluster), and the
    namespace to use when -n is not given: the context's, else default."""
    try:
        from kubernetes import client, config
    except ImportError as err:
        raise TreeError(NEEDS_CLIENT) from err
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
        namespace = kube_contexts.context_namespace(contexts, current, context)
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
    except kube_contexts.ContextError as err:
        raise TreeError(str(err)) from err
    except config.ConfigException as err:
        if (unusable := kube_contexts.unusable_kubeconfig(kubeconfig, context, err)) is not None:
            raise TreeError(str(unusable)) from err
        try:
            config.load_incluster_config()
        except config.ConfigException as in_pod:
            raise TreeError(f"no kubeconfig, and no service account to use in this pod: {in_pod}") from in_pod
        api_client = client.ApiClient()
        namespace = kube_contexts.in_cluster_namespace()
    return client.CustomObjectsApi(api_client), namespace


def _list_function(api: Any, kind: str, namespace: str | None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    if namespace is None:
        return api.list_cluster_custom_object, (GROUP, VERSION, PLURALS[kind])
    return api.list_namespaced_custom_object, (GROUP, VERSION, namespace, PLURALS[kind])


def _list(api: Any, kind: str, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
    """Every resource of `kind`, and the list's resourceVersion to watch from."""
    function, args = _list_function(api, kind, namespace)
    try:
        listing = function(*args)
    except Exception as err:
        raise TreeError(_api_error(err, kind)) from err
    return list(listing.get("items") or []), str((listing.get("metadata") or {}).get("resourceVersion") or "")


def _api_error(err: Exception, kind: str) -> str:
    from kubernetes.client.exceptions import ApiException

    if isinstance(err, ApiException):
        if err.status == 404:
            return (
                f"the API server does not serve {PLURALS[kind]}.{GROUP}: install the CRDs "
                "(kubectl apply -f crds/, or the Helm chart)"
            )
        if err.status in (401, 403):
            return (
                f"not allowed to list {PLURALS[kind]}.{GROUP} ({err.status} {err.reason}): check your "
                "credentials and RBAC"
            )
        return f"listing {PLURALS[kind]}.{GROUP} failed: {err.status} {err.reason}"
    return f"cannot reach the API server: {err}"


# --- Printing -----------------------------------------------------------------------------------------------


@dataclass
class View:
    out: TextIO
    target: Target
    colour: bool
    branches: tree_render.Branches
    shown: list[str] | None = None

    def lines(self, objects: Mapping[str, Sequence[Mapping[str, Any]]], now: datetime) -> list[str] | str:
        """The lines to print, or a message when there is nothing to show."""
        trees = tree_model.forest(objects[tree_model.SUPERVISOR_KIND], objects[tree_model.AGENT_KIND], now)
        if self.target.name is not None:
            found = tree_model.find(trees, self.target.name)
            if found is None:
                where = self.target.namespace
                return f"no AgentSupervisor or Agent named {self.target.name} in namespace {where}"
            trees = [found]
        if not trees:
            where = f"in {self.target.namespace} namespace" if self.target.namespace else ""
            return f"No resources found {where}".rstrip() + "."
        return tree_render.render(
            trees, now, namespaces=self.target.namespace is None, colour=self.colour, branches=self.branches
        )

    def show(self, objects: Mapping[str, Sequence[Mapping[str, Any]]], *, final: bool) -> int:
        """Print the trees (again, under --watch, when they changed); the exit code for a one-off run."""
        lines = self.lines(objects, datetime.now(UTC))
        if isinstance(lines, str):
            if final:
                print(lines, file=sys.stderr)
                return 1 if self.target.name is not None else 0
            lines = [lines]
        if lines == self.shown:
            return 0
        if self.shown is not None:
            # On a terminal the new trees replace the old; in a pipe they follow after a blank line.
            self.out.write(CLEAR_SCREEN if _is_tty(self.out) else "\n")
        self.shown = lines
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        return 0


# --- Watching -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    type: str
    """ADDED, MODIFIED or DELETED; LISTED when `items` replaces every object of the kind (a fresh list)."""
    items: tuple[Mapping[str, Any], ...]
    error: str | None = None


@dataclass
class Mirror:
    """The local copy of both lists, kept by the watch events."""

    objects: dict[str, dict[tuple[str, str], Mapping[str, Any]]] = field(
        default_factory=lambda: {kind: {} for kind in PLURALS}
    )

    def apply(self, event: Event) -> None:
        store = self.objects[event.kind]
        if event.type == "LISTED":
            store.clear()
        for item in event.items:
            meta = item.get("metadata") or {}
            key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            if event.type == "DELETED":
                store.pop(key, None)
            else:
                store[key] = item

    def lists(self) -> dict[str, list[Mapping[str, Any]]]:
        return {kind: list(store.values()) for kind, store in self.objects.items()}


STREAM_RETRIES: Final = 5
"""Watch streams in a row that may break before delivering anything, before --watch gives up: a server that
lists but cannot watch would otherwise be listed again and again."""


def _stream(
    api: Any, kind: str, namespace: str | None, events: queue.Queue[Event], stop: threading.Event
) -> None:
    """List, then watch from the list's version; list again when the version is too old (410 Gone) or the
    stream broke (a connection reset, an API server restart). Errors end the watch, reported as an event."""
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    function, args = _list_function(api, kind, namespace)
    broken = 0
    while not stop.is_set():
        try:
            items, version = _list(api, kind, namespace)
        except TreeError as err:
            events.put(Event(kind, "ERROR", (), str(err)))
            return
        events.put(Event(kind, "LISTED", tuple(items)))
        try:
            # The client resumes by itself after the server ends a watch; it raises 410 when it cannot.
            for raw in watch.Watch().stream(
                function, *args, resource_version=version, allow_watch_bookmarks=True
            ):
                if stop.is_set():
                    return
                broken = 0
                # Blank keep-alive lines come through as None; bookmarks only move the version.
                if raw is not None and raw.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    events.put(Event(kind, raw["type"], (raw["raw_object"],)))
        except ApiException as err:
            if err.status != 410:
                reason = f"watching {PLURALS[kind]}.{GROUP} failed: {err.status} {err.reason}"
                events.put(Event(kind, "ERROR", (), reason))
                return
        except Exception as err:
            broken += 1
            if broken >= STREAM_RETRIES:
                events.put(
                    Event(kind, "ERROR", (), f"the watch of {PLURALS[kind]}.{GROUP} keeps breaking: {err}")
                )
                return


def _watch(api: Any, target: Target, view: View) -> int:
    events: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()
    for kind in PLURALS:
        threading.Thread(
            target=_stream,
            args=(api, kind, target.namespace, events, stop),
            name=f"watch-{kind}",
            daemon=True,
        ).start()
    mirror = Mirror()
    listed: set[str] = set()
    try:
        while True:
            batch = [events.get()]
            # Everything already queued is one burst: one print for it, not one per event.
            while True:
                try:
                    batch.append(events.get_nowait())
                except queue.Empty:
                    break
            for event in batch:
                if event.error is not None:
                    raise TreeError(event.error)
                mirror.apply(event)
                if event.type == "LISTED":
                    listed.add(event.kind)
            # Only once both kinds are listed: a tree printed from one list alone would lose its nesting.
            if listed == set(PLURALS):
                view.show(mirror.lists(), final=False)
    finally:
        stop.set()
