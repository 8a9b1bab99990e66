"""kube-apiserver's validation of built-in kinds, where clients see it: the field paths, the texts and the
reasons of `ValidateConfigMap`, `ValidateSecret`, `ValidateService` and the container checks of
`ValidatePod`, returned as causes of a 422 Invalid. Secret data that is not base64 is refused earlier, at
decoding, with kube-apiserver's 400 text.
"""

from __future__ import annotations

import re
from typing import Any

from localcluster.schema import causes as field_errors

from . import meta
from .errors import bad_request

Cause = field_errors.Cause
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PROTOCOLS = ("SCTP", "TCP", "UDP")
_BASE64 = re.compile(r"[A-Za-z0-9+/]")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
# Secret types whose keys kube-apiserver requires, with the key each needs.
_REQUIRED_SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


# -- ConfigMaps and Secrets ----------------------------------------------------------------------------------
def _immutability(obj: dict[str, Any], old: dict[str, Any] | None, fields: tuple[str, ...]) -> list[Cause]:
    if old is None or old.get("immutable") is not True:
        return []
    causes = []
    if obj.get("immutable") is not True:
        causes.append(field_errors.forbidden("immutable", IMMUTABLE_WHEN_SET))
    causes.extend(
        field_errors.forbidden(name, IMMUTABLE_WHEN_SET)
        for name in fields
        if (obj.get(name) or {}) != (old.get(name) or {})
    )
    return causes


def configmap_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    return _immutability(obj, old, ("data", "binaryData"))


def secret_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    causes: list[Cause] = []
    data = obj.get("data") or {}
    secret_type = obj.get("type", "Opaque")
    causes.extend(
        field_errors.required(f"data[{key}]")
        for key in _REQUIRED_SECRET_KEYS.get(secret_type, ())
        if key not in data
    )
    if old is not None and old.get("type", "Opaque") != secret_type:
        causes.append(field_errors.invalid("type", secret_type, "field is immutable"))
    return causes + _immutability(obj, old, ("data",))


def _base64_error(text: str) -> int | None:
    """Where Go's base64.StdEncoding stops on `text` (the index it reports), or None if it decodes."""
    text = text.replace("\r", "").replace("\n", "")
    padding = len(text) - len(text.rstrip("="))
    body = text[: len(text) - padding]
    for index, char in enumerate(body):
        if not _BASE64.fullmatch(char):
            return index
    if len(text) % 4:
        return len(text) - len(text) % 4
    if padding > 2 or (padding and len(body) % 4 in (0, 1)):
        return len(body)
    return None


def check_secret_data(obj: dict[str, Any]) -> None:
    """400 BadRequest for data that is not base64, with the text kube-apiserver's decoder gives."""
    for value in (obj.get("data") or {}).values():
        if not isinstance(value, str):
            continue  # a wrong type is reported by schema validation
        at = _base64_error(value)
        if at is not None:
            raise bad_request(
                'Secret in version "v1" cannot be handled as a Secret: '
                f"illegal base64 data at input byte {at}"
            )


# -- Services ------------------------------------------------------------------------------------------------
def _port_range(path: str, value: Any) -> list[Cause]:
    if isinstance(value, int) and not 1 <= value <= 65535:
        return [field_errors.invalid(path, value, "must be between 1 and 65535, inclusive")]
    return []


def _target_port(path: str, value: Any) -> list[Cause]:
    if isinstance(value, str):
        if not _IANA_SVC_NAME.fullmatch(value) or not re.search("[a-z]", value) or "--" in value:
            detail = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
            return [field_errors.invalid(path, value, detail)]
        return []
    return _port_range(path, value)


def service_spec_validate(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    service_type = spec.get("type", "ClusterIP")
    if service_type not in SERVICE_TYPES:
        causes.append(field_errors.not_supported("spec.type", service_type, SERVICE_TYPES))
    ports = spec.get("ports") or []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(field_errors.required(f"{path}.name"))
        elif name:
            causes.extend(field_errors.invalid(f"{path}.name", name, e) for e in meta.dns_label_errors(name))
            if name in names:
                causes.append(field_errors.duplicate(f"{path}.name", name))
            names.add(name)
        causes.extend(_port_range(f"{path}.port", port.get("port", 0)))
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            causes.append(field_errors.not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        if "targetPort" in port:
            causes.extend(_target_port(f"{path}.targetPort", port["targetPort"]))
        if "nodePort" in port and port["nodePort"] not in (0, None):
            causes.extend(_port_range(f"{path}.nodePort", port["nodePort"]))
    return causes


# -- Pods ----------------------------------------------------------------------------------------------------
def container_names_validate(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or ()):
            name = container.get("name")
            if isinstance(name, str) and name:
                path = f"spec.{key}[{i}].name"
                causes.extend(field_errors.invalid(path, name, e) for e in meta.dns_label_errors(name))
    return causes
