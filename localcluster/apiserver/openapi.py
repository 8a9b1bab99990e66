"""OpenAPI v3 documents like kube-apiserver's `/openapi/v3` and `/openapi/v3/<group-version>`.

kubectl and helm read them to decide how to validate: when a resource's PATCH operation lists the
`fieldValidation` query parameter (and carries `x-kubernetes-group-version-kind`), they leave validation to
the server and send `fieldValidation=Strict`; for a group-version missing from the index they check the
Namespace PATCH operation instead. `kubectl explain` walks `components.schemas` from the schema tagged with
the kind, following `$ref`s, and `kubectl apply` reads the patch extensions (merge keys) of built-in kinds.

Built-in schemas are kube's own definitions as bundled by kubernetes_validate (JSON-schema flavoured: nullable
type lists, `#/$defs/` references), rewritten into OpenAPI 3 form; custom resources get their CRD schema plus
`apiVersion`, `kind` and `metadata`, and a `<Kind>List` schema, named as kube-apiserver names them.
Everything here is pure: inputs are plain data, outputs are JSON-ready dicts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

_DEFS_PREFIX: Final = "#/$defs/"
_COMPONENTS_PREFIX: Final = "#/components/schemas/"
_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META: Final = _META + "ObjectMeta"
LIST_META: Final = _META + "ListMeta"
STATUS: Final = _META + "Status"
DELETE_OPTIONS: Final = _META + "DeleteOptions"
PATCH: Final = _META + "Patch"
WATCH_EVENT: Final = _META + "WatchEvent"
_ALWAYS_INCLUDED: Final = (OBJECT_META, LIST_META, STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT)

_API_VERSION_DESCRIPTION: Final = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_KIND_DESCRIPTION: Final = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
_METADATA_DESCRIPTION: Final = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_LIST_METADATA_DESCRIPTION: Final = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)

ALL_VERBS: Final = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceDescription:
    """One served resource in one version, as plain data.

    Built-in kinds name their bundled definition (`io.k8s.api.core.v1.Pod`); custom resources carry their CRD
    version's `openAPIV3Schema` instead. Subresources with operations here: `status` and `log`.
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    definition: str = ""
    schema: Mapping[str, Any] | None = None
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def is_custom(self) -> bool:
        return self.schema is not None


def group_version_path(group: str, version: str) -> str:
    """The key of a group-version in the `/openapi/v3` index: `api/v1` for core, else `apis/<g>/<v>`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document_hash(document: Mapping[str, Any]) -> str:
    """A deterministic content hash (upper-case hex SHA-512, like kube-apiserver's) for `?hash=` URLs."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha512(canonical.encode()).hexdigest().upper()


class OpenAPIV3:
    """All `/openapi/v3` documents for a set of served resources, built once.

    `index()` answers `GET /openapi/v3`; `document("apis/g/v")` answers `GET /openapi/v3/apis/g/v` (None when
    the group-version is not served). Rebuild it when the served resources change (a CRD comes or goes).
    """

    def __init__(self, resources: Iterable[ResourceDescription], definitions: Mapping[str, Any]) -> None:
        by_group_version: dict[str, list[ResourceDescription]] = {}
        for resource in resources:
            by_group_version.setdefault(group_version_path(resource.group, resource.version), []).append(
                resource
            )
        self._documents = {
            path: build_document(sorted(listed, key=lambda r: r.plural), definitions)
            for path, listed in sorted(by_group_version.items())
        }
        self._hashes = {path: document_hash(document) for path, document in self._documents.items()}

    def index(self) -> dict[str, Any]:
        return {
            "paths": {
                path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
                for path, digest in self._hashes.items()
            }
        }

    def document(self, path: str) -> dict[str, Any] | None:
        return self._documents.get(path.strip("/"))

    def hash(self, path: str) -> str | None:
        return self._hashes.get(path.strip("/"))


def build_document(resources: list[ResourceDescription], definitions: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3 document for resources that share one group-version."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for resource in resources:
        kind_schema, list_schema = _resource_schema_names(resource)
        if not resource.is_custom and (kind_schema not in definitions or list_schema not in definitions):
            where = f"{resource.kind} ({resource.group or 'core'}/{resource.version})"
            raise ValueError(
                f"{where}: definition {kind_schema!r} or {list_schema!r} is not among the bundled "
                "definitions; set ResourceDescription.definition to the kind's definition key "
                "(e.g. io.k8s.api.core.v1.Pod) or pass its schema="
            )
        if resource.is_custom:
            schemas[kind_schema] = custom_resource_schema(resource)
            schemas[list_schema] = custom_resource_list_schema(resource, kind_schema)
        paths.update(_resource_paths(resource, kind_schema, list_schema))
    roots = [*_ALWAYS_INCLUDED, *(name for resource in resources for name in _builtin_roots(resource))]
    for name in reachable_definitions(roots, definitions, schemas):
        schemas.setdefault(name, convert_definition(definitions[name]))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }


def _resource_schema_names(resource: ResourceDescription) -> tuple[str, str]:
    if resource.is_custom:
        name = custom_schema_name(resource.group, resource.version, resource.kind)
        return name, name + "List"
    return resource.definition, resource.definition + "List"


def _builtin_roots(resource: ResourceDescription) -> list[str]:
    return [] if resource.is_custom else [resource.definition, resource.definition + "List"]


def custom_schema_name(group: str, version: str, kind: str) -> str:
    """kube-apiserver's component name for a custom kind, group reversed: `com.example.otp.v1.Agent`."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _COMPONENTS_PREFIX + name}


def _described_ref(name: str, description: str) -> dict[str, Any]:
    # OpenAPI 3.0 ignores siblings of $ref, so kube-apiserver wraps the reference in allOf to keep them.
    return {"allOf": [_ref(name)], "description": description}


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def custom_resource_schema(resource: ResourceDescription) -> dict[str, Any]:
    """The CRD schema as served: type object, with apiVersion/kind/metadata and the kind's GVK tag."""
    schema = copy.deepcopy(dict(resource.schema or {}))
    schema.setdefault("type", "object")
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"type": "string", "description": _API_VERSION_DESCRIPTION}
    properties["kind"] = {"type": "string", "description": _KIND_DESCRIPTION}
    properties["metadata"] = _described_ref(OBJECT_META, _METADATA_DESCRIPTION)
    schema["properties"] = dict(sorted(properties.items()))
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource.group, resource.version, resource.kind)]
    return schema


def custom_resource_list_schema(resource: ResourceDescription, item_schema: str) -> dict[str, Any]:
    list_kind = resource.kind + "List"
    return {
        "description": f"{list_kind} is a list of {resource.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DESCRIPTION},
            "items": {
                "type": "array",
                "description": f"List of {resource.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/api-conventions.md",
                "items": _ref(item_schema),
            },
            "kind": {"type": "string", "description": _KIND_DESCRIPTION},
            "metadata": _described_ref(LIST_META, _LIST_METADATA_DESCRIPTION),
        },
        "x-kubernetes-group-version-kind": [_gvk(resource.group, resource.version, list_kind)],
    }


def convert_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a bundled JSON-schema definition into kube-apiserver's OpenAPI 3 form.

    `#/$defs/X` references become `#/components/schemas/X` (wrapped in allOf when they have siblings),
    nullable type lists become their single type, and the apiVersion/kind enums the bundle adds are dropped.
    """
    converted = _convert(definition)
    if isinstance(converted, dict) and "x-kubernetes-group-version-kind" in definition:
        for key in ("apiVersion", "kind"):
            prop = converted.get("properties", {}).get(key)
            if isinstance(prop, dict):
                prop.pop("enum", None)
    return converted if isinstance(converted, dict) else {}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            concrete = [name for name in value if name != "null"]
            if len(concrete) == 1:
                out["type"] = concrete[0]
            elif concrete:
                out["type"] = concrete
        elif key == "oneOf" and isinstance(value, list):
            out["oneOf"] = [alternative for alternative in _convert(value) if alternative != {}]
        elif key in {"properties", "patternProperties", "definitions", "$defs"} and isinstance(
            value, Mapping
        ):
            out[key] = {name: _convert(schema) for name, schema in value.items()}
        elif key != "$ref":
            out[key] = _convert(value)
    reference = node.get("$ref")
    if isinstance(reference, str):
        target = reference.removeprefix(_DEFS_PREFIX)
        if not out:
            return _ref(target)
        return {"allOf": [_ref(target)], **out}
    return out


def reachable_definitions(
    roots: Iterable[str], definitions: Mapping[str, Any], extra: Mapping[str, Any]
) -> list[str]:
    """Every bundled definition referenced, directly or not, from the roots or the extra (custom) schemas."""
    seen: set[str] = set()
    pending = [name for name in roots if name in definitions]
    for schema in extra.values():
        pending += _references(schema, _COMPONENTS_PREFIX)
    while pending:
        name = pending.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        pending += _references(definitions[name], _DEFS_PREFIX)
    return sorted(seen)


def _references(node: Any, prefix: str) -> list[str]:
    found: list[str] = []
    if isinstance(node, Mapping):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith(prefix):
            found.append(reference.removeprefix(prefix))
        for value in node.values():
            found += _references(value, prefix)
    elif isinstance(node, list):
        for item in node:
            found += _references(item, prefix)
    return found


# -- operations --------------------------------------------------------------------------------------------


def _query(name: str, description: str, schema_type: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": schema_type, "uniqueItems": True},
    }


_PRETTY: Final = _query("pretty", "If 'true', then the output is pretty printed.")
_DRY_RUN: Final = _query("dryRun", "When present, indicates that modifications should not be persisted.")
_FIELD_MANAGER: Final = _query(
    "fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."
)
_FIELD_VALIDATION: Final = _query(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
)
_FORCE: Final = _query("force", 'Force is going to "force" Apply requests.', "boolean")
_GRACE_PERIOD: Final = _query(
    "gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"
)
_PROPAGATION: Final = _query("propagationPolicy", "Whether and how garbage collection will be performed.")
_LIST_PARAMETERS: Final = (
    _query(
        "allowWatchBookmarks", 'allowWatchBookmarks requests watch events with type "BOOKMARK".', "boolean"
    ),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query(
        "resourceVersion",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _query(
        "resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources.", "boolean"),
)
_JSON_TYPES: Final = ("application/json", "application/yaml")
_PATCH_TYPES: Final = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _body(schema: Mapping[str, Any], content_types: Iterable[str]) -> dict[str, Any]:
    return {
        "content": {content_type: {"schema": dict(schema)} for content_type in content_types},
        "required": True,
    }


def _responses(codes: Iterable[str], schema_name: str) -> dict[str, Any]:
    content = {content_type: {"schema": _ref(schema_name)} for content_type in _JSON_TYPES}
    described = {"200": "OK", "201": "Created", "202": "Accepted"}
    return {code: {"description": described[code], "content": content} for code in codes} | {
        "401": {"description": "Unauthorized"}
    }


def _group_camel(group: str) -> str:
    """`otp.example.com` -> `otpExampleCom`, as kube-apiserver spells groups in tags and operation ids."""
    parts = (group or "core").split(".")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def _tag(group: str, version: str) -> str:
    return f"{_group_camel(group)}_{version}"


def _resource_paths(resource: ResourceDescription, kind_schema: str, list_schema: str) -> dict[str, Any]:
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = f"{prefix}/namespaces/{{namespace}}" if resource.namespaced else prefix
    collection = f"{scope}/{resource.plural}"
    item = f"{collection}/{{name}}"
    name_parameter = _path_parameter("name", f"name of the {resource.kind}")
    scope_parameters = (
        [_path_parameter("namespace", "object name and auth scope, such as for teams and projects")]
        if resource.namespaced
        else []
    )
    operation = _Operations(resource, kind_schema)
    verbs = set(resource.verbs)

    paths: dict[str, Any] = {}
    collection_ops: dict[str, Any] = {"parameters": [*scope_parameters, _PRETTY]}
    if "list" in verbs:
        collection_ops["get"] = operation.make(
            "list", "list", list_schema, parameters=_LIST_PARAMETERS, codes=("200",)
        )
    if "create" in verbs:
        collection_ops["post"] = operation.make(
            "create",
            "post",
            kind_schema,
            parameters=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
            body=_body(_ref(kind_schema), _JSON_TYPES),
            codes=("200", "201", "202"),
        )
    if "deletecollection" in verbs:
        collection_ops["delete"] = operation.make(
            "deleteCollection",
            "deletecollection",
            STATUS,
            parameters=(_DRY_RUN, _GRACE_PERIOD, _PROPAGATION, *_LIST_PARAMETERS),
            body=_body(_ref(DELETE_OPTIONS), ("application/json",)),
            codes=("200",),
        )
    paths[collection] = collection_ops

    item_ops: dict[str, Any] = {"parameters": [name_parameter, *scope_parameters, _PRETTY]}
    if "get" in verbs:
        item_ops["get"] = operation.make("read", "get", kind_schema, codes=("200",))
    if "update" in verbs:
        item_ops["put"] = operation.make(
            "replace",
            "put",
            kind_schema,
            parameters=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
            body=_body(_ref(kind_schema), _JSON_TYPES),
            codes=("200", "201"),
        )
    if "patch" in verbs:
        item_ops["patch"] = operation.make(
            "patch",
            "patch",
            kind_schema,
            parameters=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE),
            body=_body(_ref(PATCH), _patch_types(resource)),
            codes=("200", "201"),
        )
    if "delete" in verbs:
        item_ops["delete"] = operation.make(
            "delete",
            "delete",
            STATUS if not resource.is_custom else kind_schema,
            parameters=(_DRY_RUN, _GRACE_PERIOD, _PROPAGATION),
            body=_body(_ref(DELETE_OPTIONS), ("application/json",)),
            codes=("200", "202"),
        )
    paths[item] = item_ops

    if "status" in resource.subresources:
        paths[f"{item}/status"] = {
            "parameters": [name_parameter, *scope_parameters, _PRETTY],
            "get": operation.make("read", "get", kind_schema, codes=("200",), suffix="Status"),
            "put": operation.make(
                "replace",
                "put",
                kind_schema,
                parameters=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
                body=_body(_ref(kind_schema), _JSON_TYPES),
                codes=("200", "201"),
                suffix="Status",
            ),
            "patch": operation.make(
                "patch",
                "patch",
                kind_schema,
                parameters=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE),
                body=_body(_ref(PATCH), _patch_types(resource)),
                codes=("200", "201"),
                suffix="Status",
            ),
        }
    if "log" in resource.subresources:
        log_get = operation.make("read", "get", kind_schema, codes=("200",), suffix="Log")
        log_get["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
        paths[f"{item}/log"] = {"parameters": [name_parameter, *scope_parameters, _PRETTY], "get": log_get}
    if resource.namespaced and "list" in verbs:
        paths[f"{prefix}/{resource.plural}"] = {
            "parameters": [_PRETTY],
            "get": operation.make(
                "list", "list", list_schema, parameters=_LIST_PARAMETERS, codes=("200",), all_namespaces=True
            ),
        }
    return paths


def _patch_types(resource: ResourceDescription) -> tuple[str, ...]:
    # Strategic merge patch exists only for built-in kinds; custom resources answer it with 415.
    return _PATCH_TYPES if resource.is_custom else (*_PATCH_TYPES, "application/strategic-merge-patch+json")


@dataclass(frozen=True)
class _Operations:
    resource: ResourceDescription
    kind_schema: str

    def make(
        self,
        verb: str,
        action: str,
        response_schema: str,
        *,
        parameters: Iterable[Mapping[str, Any]] = (),
        body: Mapping[str, Any] | None = None,
        codes: Iterable[str],
        suffix: str = "",
        all_namespaces: bool = False,
    ) -> dict[str, Any]:
        resource = self.resource
        tag = _tag(resource.group, resource.version)
        camel = _group_camel(resource.group)
        group_camel = camel[:1].upper() + camel[1:] + resource.version.capitalize()
        scope = "Namespaced" if resource.namespaced and not all_namespaces else ""
        tail = "ForAllNamespaces" if all_namespaces else ""
        operation: dict[str, Any] = {
            "tags": [tag],
            "description": f"{action} {resource.kind}",
            "operationId": f"{verb}{group_camel}{scope}{resource.kind}{suffix}{tail}",
            "parameters": [dict(parameter) for parameter in parameters],
            "responses": _responses(codes, response_schema),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(resource.group, resource.version, resource.kind),
        }
        if body is not None:
            operation["requestBody"] = dict(body)
        return operation
