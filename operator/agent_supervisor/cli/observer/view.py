"""What the Observer page shows, decided purely: bodies as the API returned them -> one JSON-able snapshot.

The trees come from tree_model (the same nesting and counts as `agent-supervisor tree`); this module only
turns them into JSON, adds each node's detail (conditions, restarts in the intensity window, the last exits
read from the ended pods, the runtime facts the operator copies to the Agent's status) and the timeline.

Nothing from a spec goes into a snapshot, and of a pod only its name, labels' attempt and container exit
states: a spec or a pod's env can name or carry configuration, and the page must never show a Secret's value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from agent_supervisor.api.common import DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD_SECONDS
from agent_supervisor.cli.observer.ids import node_id
from agent_supervisor.cli.observer.timeline import timeline
from agent_supervisor.cli.tree_model import AGENT_KIND, SUPERVISOR_KIND, Node, NodeKind, forest
from agent_supervisor.supervision import restarts_in_window
from agent_supervisor.translate import labels

Body = Mapping[str, Any]

MAX_EXITS: Final = 5
MAX_EVENTS: Final = 10
MAX_MESSAGE: Final = 1024


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stamp(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(body: Body) -> tuple[str, str]:
    meta = _map(body.get("metadata"))
    return _text(meta.get("namespace")) or "", _text(meta.get("name")) or ""


# --- The trees ----------------------------------------------------------------------------------------------


def node_json(node: Node) -> dict[str, Any]:
    """A tree node and its subtree as the page draws it."""
    last = node.last_exit
    return {
        "id": node_id(node.namespace, node.name, pool=node.kind is NodeKind.POOL),
        "kind": node.kind.value,
        "namespace": node.namespace,
        "name": node.name,
        "strategy": node.strategy,
        "phase": node.phase,
        "ready": None if node.ready is None else list(node.ready),
        "restarts": node.restarts,
        "window": None if node.window is None else list(node.window),
        "budget": node.budget,
        "lastExit": None
        if last is None
        else {"reason": last.reason, "code": last.code, "abnormal": last.abnormal},
        "children": [node_json(child) for child in node.children],
    }


# --- A node's detail ----------------------------------------------------------------------------------------


def _conditions(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    fields = ("type", "status", "reason", "message", "lastTransitionTime")
    return [
        {name: condition.get(name) for name in fields}
        for condition in map(_map, _list(status.get("conditions")))
        if _text(condition.get("type"))
    ]


def _restart_window(body: Body, now: int) -> dict[str, Any] | None:
    """The restarts that count in the intensity window at `now`, from the stored history (newest first)."""
    spec, status = _map(body.get("spec")), _map(body.get("status"))
    if "restartHistory" not in status and "maxRestarts" not in spec:
        return None
    period = _int(spec.get("periodSeconds"))
    period = DEFAULT_PERIOD_SECONDS if period is None else period
    max_restarts = _int(spec.get("maxRestarts"))
    history = [at for at in map(_int, _list(status.get("restartHistory"))) if at is not None]
    inside = sorted((at for at in history if restarts_in_window([at], now, period)), reverse=True)
    return {
        "max": DEFAULT_MAX_RESTARTS if max_restarts is None else max_restarts,
        "periodSeconds": period,
        "times": [_stamp(at) for at in inside],
    }


def _last_exit(status: Mapping[str, Any]) -> dict[str, Any] | None:
    info = _map(status.get("lastExit"))
    if not _text(info.get("reason")):
        return None
    return {
        "reason": info.get("reason"),
        "code": _int(info.get("code")),
        "classification": _text(info.get("classification")),
        "message": (_text(info.get("message")) or "")[:MAX_MESSAGE],
        "time": _text(info.get("time")),
    }


def pod_exit(pod: Body) -> dict[str, Any] | None:
    """How an ended pod's agent container ended, or None while it runs (or before it has ended)."""
    status = _map(pod.get("status"))
    meta = _map(pod.get("metadata"))
    for container in map(_map, _list(status.get("containerStatuses"))):
        ended = _map(_map(container.get("state")).get("terminated"))
        if not ended:
            continue
        return {
            "pod": _text(meta.get("name")),
            "attempt": _text(_map(meta.get("labels")).get(labels.ATTEMPT)),
            "container": _text(container.get("name")),
            "reason": _text(ended.get("reason")),
            "code": _int(ended.get("exitCode")),
            "finishedAt": _text(ended.get("finishedAt")),
            "message": (_text(ended.get("message")) or "")[:MAX_MESSAGE],
        }
    return None


def _exits(pods: Iterable[Body]) -> list[dict[str, Any]]:
    ended = [made for pod in pods if (made := pod_exit(pod)) is not None]
    ended.sort(key=lambda e: (e["finishedAt"] or "", e["pod"] or ""), reverse=True)
    return ended[:MAX_EXITS]


def _runtime(status: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime facts the operator copies to an Agent's status."""
    return {
        "podName": _text(status.get("podName")),
        "attempt": _int(status.get("attempt")),
        "configRevision": _text(status.get("configRevision")),
        "appliedConfigRevision": _text(status.get("appliedConfigRevision")),
    }


def _event_json(event: Body) -> dict[str, Any]:
    return {
        "time": _text(event.get("lastTimestamp")) or _text(event.get("eventTime")),
        "type": _text(event.get("type")),
        "reason": _text(event.get("reason")),
        "message": (_text(event.get("message")) or "")[:MAX_MESSAGE],
    }


def detail(
    kind: str, body: Body, pods: Sequence[Body], events: Sequence[Body], now: datetime
) -> dict[str, Any]:
    """A resource's detail pane. `pods` are its own pods, `events` the Events about it."""
    namespace, name = _key(body)
    status = _map(body.get("status"))
    supervised = labels.supervisor_of(
        {k: v for k, v in _map(_map(body.get("metadata")).get("labels")).items() if isinstance(v, str)}
    )
    newest = sorted(events, key=lambda e: _text(e.get("lastTimestamp")) or "", reverse=True)
    exits = _exits(pods)
    return {
        "id": node_id(namespace, name),
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "phase": _text(status.get("phase")),
        "supervisor": supervised,
        "conditions": _conditions(status),
        # A supervised agent spends its supervisor's intensity; only the others have a window of their own.
        "restartWindow": None if supervised else _restart_window(body, int(now.timestamp())),
        "totalRestarts": _int(status.get("totalRestarts")),
        "lastExit": _last_exit(status),
        "exits": exits,
        "logPod": exits[0]["pod"] if exits else None,
        "runtime": _runtime(status) if kind == AGENT_KIND else None,
        "events": [_event_json(event) for event in newest[:MAX_EVENTS]],
    }


# --- The whole snapshot -------------------------------------------------------------------------------------


def _by_owner(pods: Iterable[Body]) -> dict[tuple[str, str], list[Body]]:
    """Pods by the (namespace, Agent or worker name) they are incarnations of."""
    owned: dict[tuple[str, str], list[Body]] = {}
    for pod in pods:
        namespace, _ = _key(pod)
        pod_labels = _map(_map(pod.get("metadata")).get("labels"))
        owner = _text(pod_labels.get(labels.AGENT)) or _text(pod_labels.get(labels.WORKER))
        if owner is not None:
            owned.setdefault((namespace, owner), []).append(pod)
    return owned


def _events_by_object(events: Iterable[Body]) -> dict[tuple[str, str, str], list[Body]]:
    about: dict[tuple[str, str, str], list[Body]] = {}
    for event in events:
        involved = _map(event.get("involvedObject"))
        key = (
            _text(involved.get("namespace")) or "",
            _text(involved.get("kind")) or "",
            _text(involved.get("name")) or "",
        )
        about.setdefault(key, []).append(event)
    return about


def snapshot(
    supervisors: Sequence[Body],
    agents: Sequence[Body],
    events: Sequence[Body],
    pods: Sequence[Body],
    now: datetime,
) -> dict[str, Any]:
    """Everything the page shows at `now`: the trees, the timeline and every resource's detail by node id."""
    owned = _by_owner(pods)
    about = _events_by_object(events)
    details: dict[str, dict[str, Any]] = {}
    for kind, bodies in ((SUPERVISOR_KIND, supervisors), (AGENT_KIND, agents)):
        for body in bodies:
            namespace, name = _key(body)
            made = detail(
                kind, body, owned.get((namespace, name), []), about.get((namespace, kind, name), []), now
            )
            details[made["id"]] = made
    # Workers have no resource: their detail is their pods' exits alone.
    for (namespace, owner), owned_pods in owned.items():
        key = node_id(namespace, owner)
        if key not in details and any(
            labels.WORKER in _map(_map(p.get("metadata")).get("labels")) for p in owned_pods
        ):
            exits = _exits(owned_pods)
            details[key] = {
                "id": key,
                "kind": NodeKind.WORKER.value,
                "namespace": namespace,
                "name": owner,
                "exits": exits,
                "logPod": exits[0]["pod"] if exits else None,
            }
    return {
        "now": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trees": [node_json(tree) for tree in forest(supervisors, agents, now)],
        "timeline": timeline(events),
        "details": details,
    }
