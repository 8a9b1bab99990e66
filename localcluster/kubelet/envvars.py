"""A container's environment, built the way the kubelet builds it, and ``$(VAR)`` expansion."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from localcluster.kubelet.downward import FieldRefError, PodFacts, field_value
from localcluster.kubelet.objects import ObjectSource, configmap_bytes, secret_bytes


class ContainerConfigError(Exception):
    """The container's configuration cannot be built yet (reported as CreateContainerConfigError)."""


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes, anything else stays."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : close]
            value = lookup(name) if name else None
            out.append(value if value is not None else text[i : close + 1])
            i = close + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _key_value(source: ObjectSource, kind: str, namespace: str, ref: Mapping[str, Any]) -> str | None:
    name = str(ref.get("name", ""))
    key = str(ref.get("key", ""))
    optional = bool(ref.get("optional", False))
    obj = source.secret(namespace, name) if kind == "Secret" else source.configmap(namespace, name)
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    values = secret_bytes(obj) if kind == "Secret" else configmap_bytes(obj)
    if key not in values:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return values[key].decode(errors="replace")


def _env_from(source: ObjectSource, namespace: str, entry: Mapping[str, Any]) -> dict[str, str]:
    prefix = str(entry.get("prefix", ""))
    for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
        ref = entry.get(field)
        if ref is None:
            continue
        name = str(ref.get("name", ""))
        obj = source.secret(namespace, name) if kind == "Secret" else source.configmap(namespace, name)
        if obj is None:
            if ref.get("optional", False):
                return {}
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
        if kind == "Secret":
            return {prefix + key: value.decode(errors="replace") for key, value in secret_bytes(obj).items()}
        return {prefix + key: str(value) for key, value in (obj.get("data") or {}).items()}
    raise ContainerConfigError("envFrom entry needs configMapRef or secretRef")


def _value_from(
    facts: PodFacts, source: ObjectSource, namespace: str, name: str, value_from: Mapping[str, Any]
) -> str | None:
    if "fieldRef" in value_from:
        try:
            return field_value(facts, str(value_from["fieldRef"].get("fieldPath", "")))
        except FieldRefError as error:
            raise ContainerConfigError(f"env {name}: {error}") from error
    if "secretKeyRef" in value_from:
        return _key_value(source, "Secret", namespace, value_from["secretKeyRef"])
    if "configMapKeyRef" in value_from:
        return _key_value(source, "ConfigMap", namespace, value_from["configMapKeyRef"])
    raise ContainerConfigError(
        f"env {name}: valueFrom supports fieldRef, secretKeyRef and configMapKeyRef in the local cluster "
        f"(resourceFieldRef is not emulated)"
    )


def container_env(
    facts: PodFacts,
    container: Mapping[str, Any],
    source: ObjectSource,
    base: Mapping[str, str],
) -> dict[str, str]:
    """``base`` (host and kubelet variables), then envFrom in order, then env in order with expansion."""
    namespace = str((facts.pod.get("metadata") or {}).get("namespace", "default"))
    env = dict(base)
    for entry in container.get("envFrom") or []:
        env.update(_env_from(source, namespace, entry))
    for entry in container.get("env") or []:
        name = str(entry.get("name", ""))
        if not name:
            raise ContainerConfigError("env entry without a name")
        if "valueFrom" in entry:
            value = _value_from(facts, source, namespace, name, entry["valueFrom"])
            if value is None:
                continue
        else:
            value = expand(str(entry.get("value", "")), env.get)
        env[name] = value
    return env


# Each variable in both spellings, as clients differ in which they read (Python reads both and prefers the
# lowercase one; curl reads only http_proxy). A pod that sets one spelling must not be given the other.
_PROXY_VARIABLES = (("HTTP_PROXY", "http_proxy"), ("NO_PROXY", "no_proxy"))


def with_service_proxy(env: Mapping[str, str], proxy_url: str, direct_hosts: str) -> dict[str, str]:
    """``env`` plus HTTP_PROXY/http_proxy and NO_PROXY/no_proxy, each pair only where ``env`` has neither."""
    values = {"HTTP_PROXY": proxy_url, "NO_PROXY": direct_hosts}
    result = dict(env)
    for spellings in _PROXY_VARIABLES:
        if not any(name in env for name in spellings):
            result.update(dict.fromkeys(spellings, values[spellings[0]]))
    return result
