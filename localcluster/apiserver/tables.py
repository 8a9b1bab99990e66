"""meta.k8s.io/v1 Table rendering, so `kubectl get` prints the columns a real cluster prints.

Custom resources get their CRD's `additionalPrinterColumns` (JSONPath, `date` columns shown as ages);
built-in kinds get kube-apiserver's printer columns, computed from the object where a path is not enough
(a pod's Ready/Status/Restarts). The server renders every column; kubectl hides priority > 0 unless `-o wide`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .jsonpath import compile_json_path
from .selectors import SelectorError, label_selector_from_dict

__all__ = [
    "BUILTIN_COLUMNS",
    "DEFAULT_COLUMNS",
    "INCLUDE_OBJECT_CHOICES",
    "ColumnSpec",
    "columns_for_kind",
    "columns_from_crd",
    "human_duration",
    "render_table",
]

Obj = Mapping[str, Any]
Cell = str | int | float | bool | None
CellFunction = Callable[[Obj, datetime], Cell]

INCLUDE_OBJECT_CHOICES = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its definition as kubectl sees it and how to compute a row's cell."""

    name: str
    type: str
    cell: CellFunction
    format: str = ""
    description: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


# --- time ----------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """kubectl's age format: about two significant units (`45s`, `3m2s`, `5h`, `2d3h`, `3y`)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def age_since(value: Any, now: datetime) -> str:
    """`<unknown>` for a missing timestamp, `<invalid>` for an unparsable one, else the age."""
    if value in (None, ""):
        return "<unknown>"
    moment = _parse_time(value)
    if moment is None:
        return "<invalid>"
    return human_duration((now - moment).total_seconds())


# --- helpers reading objects ---------------------------------------------------------------------


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _name(obj: Obj, _now: datetime) -> Cell:
    return str(_get(obj, "metadata", "name") or "")


def _age(obj: Obj, now: datetime) -> Cell:
    return age_since(_get(obj, "metadata", "creationTimestamp"), now)


def _created_at(obj: Obj, _now: datetime) -> Cell:
    moment = _parse_time(_get(obj, "metadata", "creationTimestamp"))
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _or_none(value: Any) -> str:
    return str(value) if value not in (None, "") else "<none>"


def _count(*path: str) -> CellFunction:
    def cell(obj: Obj, _now: datetime) -> Cell:
        return len(_get(obj, *path) or ())

    return cell


def _text(*path: str, missing: str = "") -> CellFunction:
    def cell(obj: Obj, _now: datetime) -> Cell:
        value = _get(obj, *path)
        return missing if value in (None, "") else str(value)

    return cell


def _format_labels(labels: Mapping[str, Any] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _format_label_selector(selector: Mapping[str, Any] | None) -> str:
    try:
        text = str(label_selector_from_dict(selector or {}))
    except SelectorError:
        return "<error>"
    return text or "<none>"


NAME = ColumnSpec(
    "Name", "string", _name, format="name", description="Name of the object, unique in its namespace."
)
AGE = ColumnSpec("Age", "string", _age, description="Time since the object was created.")
CREATED_AT = ColumnSpec("Created At", "date", _created_at, description="When the object was created (UTC).")

DEFAULT_COLUMNS: tuple[ColumnSpec, ...] = (NAME, CREATED_AT)


# --- custom resources ----------------------------------------------------------------------------


def _json_path_cell(json_path: str, column_type: str) -> CellFunction:
    path = compile_json_path(json_path)

    def cell(obj: Obj, now: datetime) -> Cell:
        results = path.find(obj)
        if not results:
            return None
        return _typed_cell(column_type, results[0], now)

    return cell


def _typed_cell(column_type: str, value: Any, now: datetime) -> Cell:
    """Converts a JSONPath result as kube-apiserver does; a value of the wrong type gives an empty cell."""
    if value is None:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    match column_type:
        case "integer":
            return int(value) if is_number else None
        case "number":
            return float(value) if is_number else None
        case "boolean":
            return value if isinstance(value, bool) else None
        case "date":
            return age_since(value, now) if isinstance(value, str) else None
        case "string":
            return _print_value(value)
    return None


def _print_value(value: Any) -> str:
    """How client-go's JSONPath printer writes a value: strings bare, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def columns_from_crd(crd_version: Mapping[str, Any]) -> list[ColumnSpec]:
    """Columns for one served version of a CRD (`spec.versions[i]`): its printer columns, else just Age.

    Raises JSONPathError for a column path outside the supported dialect.
    """
    declared = crd_version.get("additionalPrinterColumns") or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    columns = []
    for column in declared:
        json_path = str(column["jsonPath"])
        column_type = str(column.get("type", "string"))
        columns.append(
            ColumnSpec(
                name=str(column["name"]),
                type=column_type,
                cell=_json_path_cell(json_path, column_type),
                format=str(column.get("format", "")),
                description=str(
                    column.get("description")
                    or f"Custom resource definition column (in JSONPath format): {json_path}"
                ),
                priority=int(column.get("priority", 0)),
            )
        )
    return columns


# --- pods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PodSummary:
    ready: str
    status: str
    restarts: str


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _latest(current: datetime | None, candidate: Any) -> datetime | None:
    moment = _parse_time(candidate)
    if moment is None:
        return current
    return moment if current is None or moment > current else current


def _condition_true(pod: Obj, condition_type: str) -> bool:
    return any(
        c.get("type") == condition_type and c.get("status") == "True"
        for c in _get(pod, "status", "conditions") or ()
    )


def _restartable(container: Mapping[str, Any] | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _summarize_pod(pod: Obj, now: datetime) -> _PodSummary:
    """The Ready, Status and Restarts cells, following kube-apiserver's pod printer."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}
    total = len(spec.get("containers") or ()) + sum(_restartable(c) for c in init_specs.values())
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
        for c in status.get("conditions") or ()
    ):
        reason = "SchedulingGated"
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for index, container in enumerate(init_statuses):
        state = container.get("state") or {}
        finished = _get(container, "lastState", "terminated", "finishedAt")
        restarts += int(container.get("restartCount") or 0)
        last_restart = _latest(last_restart, finished)
        sidecar = _restartable(init_specs.get(container.get("name")))
        if sidecar:
            sidecar_restarts += int(container.get("restartCount") or 0)
            last_sidecar_restart = _latest(last_sidecar_restart, finished)
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and container.get("started"):
            ready += bool(container.get("ready"))
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or _condition_true(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            restarts += int(container.get("restartCount") or 0)
            last_restart = _latest(last_restart, _get(container, "lastState", "terminated", "finishedAt"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"
    if _get(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    return _PodSummary(f"{ready}/{total}", reason, restarts_text)


def _pod_ip(pod: Obj, _now: datetime) -> Cell:
    ips = _get(pod, "status", "podIPs") or []
    first = ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else None
    return _or_none(first or _get(pod, "status", "podIP"))


def _readiness_gates(pod: Obj, _now: datetime) -> Cell:
    gates = _get(pod, "spec", "readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in _get(pod, "status", "conditions") or ()}
    true = sum(conditions.get(g.get("conditionType")) == "True" for g in gates)
    return f"{true}/{len(gates)}"


POD_COLUMNS = (
    NAME,
    ColumnSpec(
        "Ready", "string", lambda o, n: _summarize_pod(o, n).ready, description="Ready containers / all."
    ),
    ColumnSpec(
        "Status", "string", lambda o, n: _summarize_pod(o, n).status, description="Aggregate pod status."
    ),
    ColumnSpec(
        "Restarts",
        "string",
        lambda o, n: _summarize_pod(o, n).restarts,
        description="Container restarts, latest.",
    ),
    AGE,
    ColumnSpec("IP", "string", _pod_ip, priority=1, description="The pod's IP address."),
    ColumnSpec(
        "Node", "string", _text("spec", "nodeName", missing="<none>"), priority=1, description="Node."
    ),
    ColumnSpec(
        "Nominated Node",
        "string",
        _text("status", "nominatedNodeName", missing="<none>"),
        priority=1,
        description="Node the scheduler nominated for preemption.",
    ),
    ColumnSpec(
        "Readiness Gates", "string", _readiness_gates, priority=1, description="True readiness gates / all."
    ),
)


# --- services and endpoints ----------------------------------------------------------------------


def _service_external_ip(svc: Obj, _now: datetime) -> Cell:
    spec = svc.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    match spec.get("type", "ClusterIP"):
        case "ClusterIP" | "NodePort":
            return ",".join(external) or "<none>"
        case "LoadBalancer":
            ingress = _get(svc, "status", "loadBalancer", "ingress") or []
            addresses = [
                i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")
            ]
            return ",".join([*addresses, *external]) or "<pending>"
        case "ExternalName":
            return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_ports(svc: Obj, _now: datetime) -> Cell:
    pieces = []
    for port in _get(svc, "spec", "ports") or []:
        protocol = port.get("protocol", "TCP")
        node_port = port.get("nodePort")
        pieces.append(
            f"{port.get('port')}:{node_port}/{protocol}" if node_port else f"{port.get('port')}/{protocol}"
        )
    return ",".join(pieces) or "<none>"


def _cluster_ip(svc: Obj, _now: datetime) -> Cell:
    ips = _get(svc, "spec", "clusterIPs") or []
    return str(ips[0]) if ips else _or_none(_get(svc, "spec", "clusterIP"))


SERVICE_COLUMNS = (
    NAME,
    ColumnSpec(
        "Type",
        "string",
        _text("spec", "type", missing="ClusterIP"),
        description="How the service is exposed.",
    ),
    ColumnSpec("Cluster-IP", "string", _cluster_ip, description="The service's cluster address."),
    ColumnSpec("External-IP", "string", _service_external_ip, description="Addresses outside the cluster."),
    ColumnSpec("Port(s)", "string", _service_ports, description="Service ports."),
    AGE,
    ColumnSpec(
        "Selector",
        "string",
        lambda o, _n: _format_labels(_get(o, "spec", "selector")),
        priority=1,
        description="Pods this service routes to.",
    ),
)


def _endpoints(obj: Obj, _now: datetime) -> Cell:
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    total = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or ()]
        ports = subset.get("ports") or [None]
        for port in ports:
            total += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    host = f"[{ip}]" if ":" in ip else ip
                    shown.append(ip if port is None else f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {total - 3} more..." if total > 3 else text


# --- events --------------------------------------------------------------------------------------


def _core_event(event: Obj) -> Obj:
    """events.k8s.io/v1 Events printed with the core printer, as the apiserver converts them internally."""
    if not str(event.get("apiVersion", "")).startswith("events.k8s.io/"):
        return event
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "message": event.get("note", ""),
        "reason": event.get("reason", ""),
        "type": event.get("type", ""),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount", 0),
        "source": event.get("deprecatedSource") or {},
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController", ""),
        "reportingInstance": event.get("reportingInstance", ""),
    }


def _event_first_seen(event: Obj, now: datetime) -> str:
    event = _core_event(event)
    if event.get("firstTimestamp"):
        return age_since(event["firstTimestamp"], now)
    return age_since(event.get("eventTime"), now)


def _event_last_seen(event: Obj, now: datetime) -> Cell:
    event = _core_event(event)
    series = event.get("series")
    if series:
        return age_since(series.get("lastObservedTime"), now)
    if event.get("lastTimestamp"):
        return age_since(event["lastTimestamp"], now)
    return _event_first_seen(event, now)


def _event_object(event: Obj, _now: datetime) -> Cell:
    involved = _core_event(event).get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(event: Obj, _now: datetime) -> Cell:
    event = _core_event(event)
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    if not component:
        return "<unknown>"
    return f"{component}, {host}" if host else component


def _event_count(event: Obj, _now: datetime) -> Cell:
    event = _core_event(event)
    series = event.get("series")
    if series:
        return int(series.get("count") or 0)
    return int(event.get("count") or 0) or 1


EVENT_COLUMNS = (
    ColumnSpec("Last Seen", "string", _event_last_seen, description="When the event was last seen."),
    ColumnSpec(
        "Type", "string", lambda e, _n: str(_core_event(e).get("type", "")), description="Normal or Warning."
    ),
    ColumnSpec("Reason", "string", lambda e, _n: str(_core_event(e).get("reason", "")), description="Why."),
    ColumnSpec("Object", "string", _event_object, description="The object the event is about."),
    ColumnSpec(
        "Subobject",
        "string",
        lambda e, _n: str(_get(_core_event(e), "involvedObject", "fieldPath") or ""),
        priority=1,
        description="The part of the object the event is about.",
    ),
    ColumnSpec(
        "Source", "string", _event_source, priority=1, description="The component reporting the event."
    ),
    ColumnSpec(
        "Message",
        "string",
        lambda e, _n: str(_core_event(e).get("message") or "").strip(),
        description="What happened.",
    ),
    ColumnSpec(
        "First Seen", "string", _event_first_seen, priority=1, description="When the event was first seen."
    ),
    ColumnSpec("Count", "string", _event_count, priority=1, description="How often the event occurred."),
    ColumnSpec("Name", "string", _name, format="name", priority=1, description="Name of the event object."),
)


# --- nodes ---------------------------------------------------------------------------------------


def _node_status(node: Obj, _now: datetime) -> Cell:
    states = [
        "Ready" if c.get("status") == "True" else "NotReady"
        for c in _get(node, "status", "conditions") or ()
        if c.get("type") == "Ready"
    ][:1] or ["Unknown"]
    if _get(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(node: Obj, _now: datetime) -> Cell:
    roles = set()
    for key, value in (_get(node, "metadata", "labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(address_type: str) -> CellFunction:
    def cell(node: Obj, _now: datetime) -> Cell:
        for address in _get(node, "status", "addresses") or ():
            if address.get("type") == address_type:
                return str(address.get("address", ""))
        return "<none>"

    return cell


NODE_COLUMNS = (
    NAME,
    ColumnSpec("Status", "string", _node_status, description="Readiness of the node."),
    ColumnSpec("Roles", "string", _node_roles, description="Roles from node-role labels."),
    AGE,
    ColumnSpec(
        "Version", "string", _text("status", "nodeInfo", "kubeletVersion"), description="Kubelet version."
    ),
    ColumnSpec(
        "Internal-IP", "string", _node_address("InternalIP"), priority=1, description="Internal address."
    ),
    ColumnSpec(
        "External-IP", "string", _node_address("ExternalIP"), priority=1, description="External address."
    ),
    *(
        ColumnSpec(
            name,
            "string",
            _text("status", "nodeInfo", info, missing="<unknown>"),
            priority=1,
            description=text,
        )
        for name, info, text in (
            ("OS-Image", "osImage", "Operating system image."),
            ("Kernel-Version", "kernelVersion", "Kernel version."),
            ("Container-Runtime", "containerRuntimeVersion", "Container runtime version."),
        )
    ),
)


# --- RBAC ----------------------------------------------------------------------------------------


def _subjects(kind: str) -> CellFunction:
    def cell(binding: Obj, _now: datetime) -> Cell:
        names = []
        for subject in binding.get("subjects") or ():
            if subject.get("kind") != kind:
                continue
            if kind == "ServiceAccount":
                names.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
            else:
                names.append(str(subject.get("name", "")))
        return ", ".join(names)

    return cell


BINDING_COLUMNS = (
    NAME,
    ColumnSpec(
        "Role",
        "string",
        lambda b, _n: f"{_get(b, 'roleRef', 'kind') or ''}/{_get(b, 'roleRef', 'name') or ''}",
        description="The role granted.",
    ),
    AGE,
    ColumnSpec("Users", "string", _subjects("User"), priority=1, description="Users in the binding."),
    ColumnSpec("Groups", "string", _subjects("Group"), priority=1, description="Groups in the binding."),
    ColumnSpec(
        "ServiceAccounts",
        "string",
        _subjects("ServiceAccount"),
        priority=1,
        description="Service accounts bound.",
    ),
)


# --- the registry --------------------------------------------------------------------------------


def _deployment_ready(deployment: Obj, _now: datetime) -> Cell:
    desired = _get(deployment, "spec", "replicas")
    return f"{_get(deployment, 'status', 'readyReplicas') or 0}/{1 if desired is None else desired}"


def _int_field(*path: str) -> CellFunction:
    def cell(obj: Obj, _now: datetime) -> Cell:
        return int(_get(obj, *path) or 0)

    return cell


def _template_containers(field: str) -> CellFunction:
    def cell(obj: Obj, _now: datetime) -> Cell:
        return ",".join(
            str(c.get(field, "")) for c in _get(obj, "spec", "template", "spec", "containers") or ()
        )

    return cell


def _int_or_percent(*path: str) -> CellFunction:
    # minAvailable/maxUnavailable are IntOrString ("50%"); kubectl shows N/A for the one that is unset.
    return _text(*path, missing="N/A")


PDB_COLUMNS = (
    NAME,
    ColumnSpec(
        "Min Available",
        "string",
        _int_or_percent("spec", "minAvailable"),
        description="The minimum number of pods that must be available.",
    ),
    ColumnSpec(
        "Max Unavailable",
        "string",
        _int_or_percent("spec", "maxUnavailable"),
        description="The maximum number of pods that may be unavailable.",
    ),
    ColumnSpec(
        "Allowed Disruptions",
        "integer",
        _int_field("status", "disruptionsAllowed"),
        description="Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
)
NETWORK_POLICY_COLUMNS = (
    NAME,
    ColumnSpec(
        "Pod-Selector",
        "string",
        lambda o, _n: _format_label_selector(_get(o, "spec", "podSelector")),
        description="The pods the policy applies to.",
    ),
    AGE,
)


BUILTIN_COLUMNS: Mapping[str, tuple[ColumnSpec, ...]] = {
    "Pod": POD_COLUMNS,
    "Namespace": (NAME, ColumnSpec("Status", "string", _text("status", "phase"), description="Phase."), AGE),
    "Service": SERVICE_COLUMNS,
    "Endpoints": (NAME, ColumnSpec("Endpoints", "string", _endpoints, description="Ready addresses."), AGE),
    "ConfigMap": (
        NAME,
        ColumnSpec(
            "Data",
            "string",
            lambda o, _n: len(o.get("data") or ()) + len(o.get("binaryData") or ()),
            description="Number of keys.",
        ),
        AGE,
    ),
    "Secret": (
        NAME,
        ColumnSpec("Type", "string", _text("type"), description="Secret type."),
        ColumnSpec("Data", "string", _count("data"), description="Number of keys."),
        AGE,
    ),
    "ServiceAccount": (NAME, ColumnSpec("Secrets", "string", _count("secrets"), description="Secrets."), AGE),
    "Event": EVENT_COLUMNS,
    "Node": NODE_COLUMNS,
    "Lease": (
        NAME,
        ColumnSpec("Holder", "string", _text("spec", "holderIdentity"), description="Holder."),
        AGE,
    ),
    "CustomResourceDefinition": DEFAULT_COLUMNS,
    "Role": DEFAULT_COLUMNS,
    "ClusterRole": DEFAULT_COLUMNS,
    "RoleBinding": BINDING_COLUMNS,
    "ClusterRoleBinding": BINDING_COLUMNS,
    "PodDisruptionBudget": PDB_COLUMNS,
    "NetworkPolicy": NETWORK_POLICY_COLUMNS,
    "Deployment": (
        NAME,
        ColumnSpec("Ready", "string", _deployment_ready, description="Ready replicas / desired."),
        ColumnSpec(
            "Up-to-date", "integer", _int_field("status", "updatedReplicas"), description="Updated replicas."
        ),
        ColumnSpec(
            "Available", "integer", _int_field("status", "availableReplicas"), description="Available."
        ),
        AGE,
        ColumnSpec(
            "Containers", "string", _template_containers("name"), priority=1, description="Containers."
        ),
        ColumnSpec("Images", "string", _template_containers("image"), priority=1, description="Images."),
        ColumnSpec(
            "Selector",
            "string",
            lambda o, _n: _format_label_selector(_get(o, "spec", "selector")),
            priority=1,
            description="Pods the deployment manages.",
        ),
    ),
}


def columns_for_kind(kind: str) -> tuple[ColumnSpec, ...]:
    """The built-in printer columns of `kind`, or the apiserver's default (Name, Created At)."""
    return BUILTIN_COLUMNS.get(kind, DEFAULT_COLUMNS)


# --- rendering -----------------------------------------------------------------------------------


def _row_object(obj: Obj, include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def render_table(
    objects: Sequence[Obj],
    columns: Sequence[ColumnSpec],
    now: datetime,
    include_object: str = "Metadata",
    list_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects`. A Name column comes first unless `columns` place one themselves
    (Events put it last). `include_object` is the `includeObject` query parameter: None, Metadata or Object.
    `now` must be timezone-aware (ages are differences against object timestamps, which are UTC)."""
    if include_object not in INCLUDE_OBJECT_CHOICES:
        raise ValueError(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT_CHOICES)}, got {include_object!r}"
        )
    if now.tzinfo is None:
        raise ValueError("render_table needs a timezone-aware `now`, e.g. datetime.now(timezone.utc)")
    full = list(columns) if any(c.format == "name" for c in columns) else [NAME, *columns]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_metadata or {}),
        "columnDefinitions": [c.definition() for c in full],
        "rows": [
            {"cells": [c.cell(obj, now) for c in full], "object": _row_object(obj, include_object)}
            for obj in objects
        ],
    }
