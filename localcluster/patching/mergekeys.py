"""Where lists merge by key: patch metadata for strategic merge patch and server-side apply.

Built-in kinds take it from the `x-kubernetes-patch-*` and `x-kubernetes-list-*` annotations of the OpenAPI
definitions bundled with `kubernetes_validate` (the source kube-apiserver's own metadata is generated from);
custom resources take it from their CRD's openAPIV3Schema.

Paths name fields from the object's root with dots; `[]` stands for "every item of this list" and `*` for
"every value of this map": `spec.containers[].env`, `spec.template.spec.volumes`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

ListType = Literal["atomic", "set", "map"]

DEFINITIONS_RESOURCE = "kubernetes-json-schema/v1.35.0-local/_definitions.json"

# The bundled definitions omit `default`s, but server-side apply needs the default of a list-map key that a
# manifest may leave out (container and service ports are keyed by port *and* protocol).
_KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}


@dataclass(frozen=True)
class ListMeta:
    """How a list merges: by strategic merge patch (`strategies`, `merge_key`) and by apply (`list_type`)."""

    strategies: frozenset[str] = frozenset()
    merge_key: str | None = None
    list_type: ListType = "atomic"
    map_keys: tuple[str, ...] = ()
    key_defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def merges(self) -> bool:
        return "merge" in self.strategies


@dataclass(frozen=True)
class MergeKeys:
    """Patch metadata of one kind, by path. Paths not listed are granular maps and atomic lists."""

    lists: Mapping[str, ListMeta] = field(default_factory=dict)
    atomic_maps: frozenset[str] = frozenset()
    replace_maps: frozenset[str] = frozenset()
    _prefixes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefixes: set[str] = set()
        for path in (*self.lists, *self.atomic_maps, *self.replace_maps):
            while path and path not in prefixes:
                prefixes.add(path)
                path = _parent(path)
        object.__setattr__(self, "_prefixes", frozenset(prefixes))

    def field_path(self, parent: str, name: str) -> str:
        """The path of `parent`'s field `name`: a declared field, else a value of a map with metadata."""
        exact = child_path(parent, name)
        if exact not in self._prefixes and child_path(parent, "*") in self._prefixes:
            return child_path(parent, "*")
        return exact

    def list_meta(self, path: str) -> ListMeta:
        return self.lists.get(path, _ATOMIC_LIST)

    def is_atomic_map(self, path: str) -> bool:
        return path in self.atomic_maps

    def replaces_map(self, path: str) -> bool:
        return path in self.replace_maps


_ATOMIC_LIST = ListMeta()

# A kind without known metadata: every list is replaced as a whole, every map merged.
BUILTIN_MERGE_KEYS_DEFAULT = MergeKeys()


def _parent(path: str) -> str:
    if path.endswith("[]"):
        return path[:-2]
    return path.rpartition(".")[0]


def child_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def item_path(parent: str) -> str:
    return f"{parent}[]"


class _Collector:
    def __init__(self) -> None:
        self.lists: dict[str, ListMeta] = {}
        self.atomic_maps: set[str] = set()
        self.replace_maps: set[str] = set()

    def result(self) -> MergeKeys:
        return MergeKeys(dict(self.lists), frozenset(self.atomic_maps), frozenset(self.replace_maps))


def _list_meta(schema: Mapping[str, Any], key_defaults: Mapping[str, Any]) -> ListMeta | None:
    strategies = frozenset(s for s in str(schema.get("x-kubernetes-patch-strategy", "")).split(",") if s)
    merge_key = schema.get("x-kubernetes-patch-merge-key")
    declared = schema.get("x-kubernetes-list-type")
    map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    list_type: ListType
    if declared in ("atomic", "set", "map"):
        list_type = declared
    # Apply's rule for lists annotated only for strategic merge: merge key -> map, merge -> set.
    elif "merge" in strategies and merge_key:
        list_type, map_keys = "map", (merge_key,)
    elif "merge" in strategies:
        list_type = "set"
    else:
        list_type = "atomic"
    if list_type == "atomic" and not strategies:
        return None
    defaults = {k: v for k, v in key_defaults.items() if k in map_keys}
    return ListMeta(strategies, merge_key, list_type, map_keys, defaults)


# --- built-in kinds: the bundled OpenAPI definitions ---------------------------------------------


@functools.cache
def _definitions() -> Mapping[str, Any]:
    text = resources.files("kubernetes_validate").joinpath(DEFINITIONS_RESOURCE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)["$defs"]
    return loaded


def _resolve(schema: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return name, _definitions()[name]
    return None, schema


def _walk_definition(schema: Mapping[str, Any], path: str, chain: tuple[str, ...], out: _Collector) -> None:
    name, resolved = _resolve(schema)
    if name is not None:
        if name in chain:  # recursive types (JSONSchemaProps) carry no further metadata worth unrolling
            return
        chain = (*chain, name)
    if resolved.get("x-kubernetes-map-type") == "atomic" or schema.get("x-kubernetes-map-type") == "atomic":
        out.atomic_maps.add(path)
    for prop, sub in (resolved.get("properties") or {}).items():
        sub_path = child_path(path, prop)
        if "replace" in str(sub.get("x-kubernetes-patch-strategy", "")).split(",") and "$ref" in sub:
            out.replace_maps.add(sub_path)
        _walk_value(sub, sub_path, chain, out)
    extra = resolved.get("additionalProperties")
    if isinstance(extra, Mapping):
        _walk_value(extra, child_path(path, "*"), chain, out)


def _walk_value(schema: Mapping[str, Any], path: str, chain: tuple[str, ...], out: _Collector) -> None:
    items = schema.get("items")
    if isinstance(items, Mapping):
        meta = _list_meta(schema, _KEY_DEFAULTS)
        if meta is not None:
            out.lists[path] = meta
        _walk_value(items, item_path(path), chain, out)
    elif (
        "$ref" in schema or "properties" in schema or isinstance(schema.get("additionalProperties"), Mapping)
    ):
        _walk_definition(schema, path, chain, out)


@functools.cache
def merge_keys_for_definition(definition: str) -> MergeKeys:
    """Metadata of one definition, e.g. `io.k8s.api.core.v1.Pod`."""
    out = _Collector()
    _walk_definition({"$ref": f"#/$defs/{definition}"}, "", (), out)
    return out.result()


@functools.cache
def _kind_index() -> Mapping[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            index[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return index


def merge_keys_for(group: str, version: str, kind: str) -> MergeKeys:
    """Metadata of a built-in kind by group/version/kind; the default (no merge lists) if unknown."""
    definition = _kind_index().get((group, version, kind))
    return BUILTIN_MERGE_KEYS_DEFAULT if definition is None else merge_keys_for_definition(definition)


def _preference(gvk: tuple[str, str, str]) -> tuple[int, int, str]:
    group, version, _ = gvk
    stable = version.startswith("v") and version[1:].isdigit()
    return (0 if group == "" else 1, 0 if stable else 1, version)


@functools.cache
def _kinds() -> Mapping[str, str]:
    chosen: dict[str, tuple[str, str, str]] = {}
    for gvk in _kind_index():
        kind = gvk[2]
        if kind not in chosen or _preference(gvk) < _preference(chosen[kind]):
            chosen[kind] = gvk
    return {kind: _kind_index()[gvk] for kind, gvk in chosen.items()}


class _BuiltinMergeKeys(Mapping[str, MergeKeys]):
    """Kind -> metadata, built on first use of each kind (the definitions are 1.5 MB of JSON).

    A kind served by several groups resolves to the core group's stable version (`Event` -> core/v1).
    """

    def __getitem__(self, kind: str) -> MergeKeys:
        return merge_keys_for_definition(_kinds()[kind])

    def __iter__(self) -> Iterator[str]:
        return iter(_kinds())

    def __len__(self) -> int:
        return len(_kinds())


BUILTIN_MERGE_KEYS: Mapping[str, MergeKeys] = _BuiltinMergeKeys()


# --- custom resources: the CRD's structural schema -----------------------------------------------


def merge_keys_from_openapi_schema(schema: Mapping[str, Any]) -> MergeKeys:
    """Metadata for a custom resource from its CRD version's `schema.openAPIV3Schema`."""
    out = _Collector()
    _walk_structural(schema, "", out)
    return out.result()


def _walk_structural(schema: Mapping[str, Any], path: str, out: _Collector) -> None:
    if schema.get("x-kubernetes-map-type") == "atomic":
        out.atomic_maps.add(path)
    items = schema.get("items")
    if isinstance(items, Mapping):
        meta = _list_meta(schema, {})
        if meta is not None:
            out.lists[path] = meta
        _walk_structural(items, item_path(path), out)
    for prop, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            _walk_structural(sub, child_path(path, prop), out)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        _walk_structural(extra, child_path(path, "*"), out)
