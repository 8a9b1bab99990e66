"""Per-kind defaulting and validation of built-in objects: the parts of kube-apiserver's strategies
that clients can see.

Each hook works on the server's private copy of the object and may change it in place. Validation returns
causes (`{"reason", "message", "field"}`) that the caller turns into a 422 Invalid.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcluster.schema import causes as field_errors

from . import meta, validation
from .store import Store

NODE_NAME = "local"
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
Cause = field_errors.Cause


@dataclass(frozen=True)
class Context:
    store: Store
    namespace: str


CreateHook = Callable[[dict[str, Any], Context], None]
UpdateHook = Callable[[dict[str, Any], dict[str, Any], Context], None]
ValidateHook = Callable[[dict[str, Any], dict[str, Any] | None], list[Cause]]


# -- pods ----------------------------------------------------------------------------------------------------
def _default_container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = ":" not in tag or tag.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest and "@" not in tag else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports", ()):
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            _default_probe(container[probe])


def _default_probe(probe: dict[str, Any]) -> None:
    """kube-apiserver's SetDefaults_Probe and SetDefaults_HTTPGetAction."""
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


def pod_create(obj: dict[str, Any], ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    # A one-node "scheduler": every pod lands on the local node.
    spec["nodeName"] = spec.get("nodeName") or NODE_NAME
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("securityContext", {})
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    for container in [*spec.get("initContainers", ()), *spec.get("containers", ())]:
        _default_container(container)
    obj["status"] = {
        "phase": "Pending",
        "qosClass": "BestEffort",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": meta.timestamp(),
            }
        ],
    }


# Fields of a pod spec that kube-apiserver lets an update change.
_MUTABLE_POD_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _comparable_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_SPEC}
    for key in ("containers", "initContainers"):
        if key in out:
            out[key] = [{k: v for k, v in c.items() if k != "image"} for c in out[key]]
    return out


def pod_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(field_errors.required("spec.containers"))
    names: set[str] = set()
    for i, container in enumerate(containers or ()):
        for key in ("name", "image"):
            if not container.get(key):
                causes.append(field_errors.required(f"spec.containers[{i}].{key}"))
        name = container.get("name")
        if name in names:
            causes.append(field_errors.duplicate(f"spec.containers[{i}].name", name))
        names.add(name)
    causes.extend(validation.container_names_validate(spec))
    if old is not None and _comparable_pod_spec(spec) != _comparable_pod_spec(old.get("spec") or {}):
        message = (
            "pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
            "`spec.tolerations` (only additions to "
            "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
            "previously negative)"
        )
        causes.append(field_errors.forbidden("spec", message))
    return causes


# -- services ------------------------------------------------------------------------------------------------
def _allocate_cluster_ip(store: Store) -> str:
    used = {
        svc.get("spec", {}).get("clusterIP")
        for svc in store.objects(("", "services"))
        if svc.get("spec", {}).get("clusterIP")
    }
    # .1 is the `kubernetes` service's address on real clusters; start after the first few like they do.
    for address in SERVICE_CIDR.hosts():
        text = str(address)
        if int(address) - int(SERVICE_CIDR.network_address) >= 10 and text not in used:
            return text
    raise RuntimeError("service address range exhausted")


def _allocate_node_port(store: Store) -> int:
    used = {
        port.get("nodePort")
        for svc in store.objects(("", "services"))
        for port in svc.get("spec", {}).get("ports", ())
    }
    return next(p for p in range(30000, 32768) if p not in used)


def service_create(obj: dict[str, Any], ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = _allocate_cluster_ip(ctx.store)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports", ()):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            port["nodePort"] = _allocate_node_port(ctx.store)
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    obj["status"] = {"loadBalancer": {}}


def service_update(old: dict[str, Any], obj: dict[str, Any], ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    old_spec = old.get("spec", {})
    # The allocated address survives updates that do not mention it (kubectl apply never sends it).
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if key in old_spec and not spec.get(key):
            spec[key] = old_spec[key]
    spec.setdefault("type", old_spec.get("type", "ClusterIP"))
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports", ()):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def service_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    causes.extend(name_validate_label(obj, old))
    if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
        causes.append(field_errors.required("spec.ports"))
    causes.extend(validation.service_spec_validate(spec))
    if old is not None:
        before = (old.get("spec") or {}).get("clusterIP")
        if before and spec.get("clusterIP") != before:
            causes.append(field_errors.invalid("spec.clusterIP", spec.get("clusterIP"), "field is immutable"))
    return causes


# -- secrets, namespaces -------------------------------------------------------------------------------------
def secret_write(obj: dict[str, Any], _ctx: Context) -> None:
    validation.check_secret_data(obj)
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = dict(obj.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def secret_update(_old: dict[str, Any], obj: dict[str, Any], ctx: Context) -> None:
    secret_write(obj, ctx)


def namespace_create(obj: dict[str, Any], _ctx: Context) -> None:
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def namespace_update(old: dict[str, Any], obj: dict[str, Any], _ctx: Context) -> None:
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def name_validate_label(obj: dict[str, Any], _old: dict[str, Any] | None) -> list[Cause]:
    name = obj["metadata"]["name"]
    return [field_errors.invalid("metadata.name", name, error) for error in meta.dns_label_errors(name)]


CREATE_HOOKS: dict[tuple[str, str], CreateHook] = {
    ("", "pods"): pod_create,
    ("", "services"): service_create,
    ("", "secrets"): secret_write,
    ("", "namespaces"): namespace_create,
}
UPDATE_HOOKS: dict[tuple[str, str], UpdateHook] = {
    ("", "services"): service_update,
    ("", "secrets"): secret_update,
    ("", "namespaces"): namespace_update,
}
VALIDATE_HOOKS: dict[tuple[str, str], ValidateHook] = {
    ("", "pods"): pod_validate,
    ("", "services"): service_validate,
    ("", "namespaces"): name_validate_label,
    ("", "configmaps"): validation.configmap_validate,
    ("", "secrets"): validation.secret_validate,
}
