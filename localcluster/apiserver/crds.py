"""CustomResourceDefinitions: validating and establishing them, serving their resources, checking objects."""

from __future__ import annotations

from typing import Any

from localcluster.patching import MergeKeys, merge_keys_from_openapi_schema
from localcluster.schema import CustomResourceValidator, structural_errors
from localcluster.schema import causes as field_errors

from . import meta
from .kinds import Registry, ResourceType, version_priority
from .watch import ChangeEvent

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
Cause = field_errors.Cause


def resource_type(crd: dict[str, Any]) -> ResourceType:
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec.get("versions", ()) if v.get("served", True)]
    versions = tuple(sorted((str(v["name"]) for v in served), key=version_priority))
    subresources: list[str] = []
    if any("status" in (v.get("subresources") or {}) for v in served):
        subresources.append("status")
    return ResourceType(
        group=spec["group"],
        versions=versions,
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        subresources=tuple(subresources),
        field_selectors=tuple(
            str(f["jsonPath"]).lstrip(".") for v in served[:1] for f in v.get("selectableFields", ())
        ),
        crd=crd,
        tracks_generation=True,
    )


class CustomResources:
    """Keeps the registry in step with stored CRDs and validates custom objects with the CRD's schema."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._served: dict[str, tuple[str, str]] = {}  # CRD name -> resource key it serves
        self._validators: dict[tuple[str, str, str], CustomResourceValidator] = {}
        self._merge_keys: dict[tuple[str, str, str], MergeKeys] = {}

    # -- serving -------------------------------------------------------------------------------------------
    def on_change(self, event: ChangeEvent) -> None:
        if event.key != CRD_KEY:
            return
        name = event.obj["metadata"]["name"]
        previous = self._served.pop(name, None)
        if previous is not None:
            self.registry.remove(*previous)
        if event.type != "DELETED":
            self.serve(event.obj)

    def serve(self, crd: dict[str, Any]) -> None:
        rtype = resource_type(crd)
        self.registry.add(rtype)
        self._served[crd["metadata"]["name"]] = rtype.key

    # -- custom objects ------------------------------------------------------------------------------------
    @staticmethod
    def _schema(rtype: ResourceType, version: str) -> tuple[tuple[str, str, str], dict[str, Any]]:
        assert rtype.crd is not None
        cache_key = (rtype.crd["metadata"]["uid"], rtype.crd["metadata"]["resourceVersion"], version)
        entry = rtype.crd_version(version) or {}
        schema = (entry.get("schema") or {}).get("openAPIV3Schema") or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        return cache_key, schema

    def validator(self, rtype: ResourceType, version: str) -> CustomResourceValidator:
        cache_key, schema = self._schema(rtype, version)
        validator = self._validators.get(cache_key)
        if validator is None:
            validator = self._validators[cache_key] = CustomResourceValidator(schema)
        return validator

    def merge_keys(self, rtype: ResourceType, version: str) -> MergeKeys:
        """How server-side apply merges this version's lists (from x-kubernetes-list-type/-map-keys)."""
        cache_key, schema = self._schema(rtype, version)
        keys = self._merge_keys.get(cache_key)
        if keys is None:
            keys = self._merge_keys[cache_key] = merge_keys_from_openapi_schema(schema)
        return keys

    def admit(
        self, rtype: ResourceType, version: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[str], list[Cause]]:
        """Prunes, defaults and validates a custom object; returns it, the dropped paths and the causes."""
        validator = self.validator(rtype, version)
        pruned = validator.prune(obj)
        dropped = dropped_paths(obj, pruned)
        defaulted = validator.apply_defaults(pruned)
        return defaulted, dropped, validator.validate(defaulted, old=old)


def dropped_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths present in `before` but gone from `after` (what pruning removed)."""
    out: list[str] = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            child = f"{path}.{key}" if path else key
            if key not in after:
                out.append(child)
            else:
                out.extend(dropped_paths(value, after[key], child))
    elif isinstance(before, list) and isinstance(after, list):
        for i, (b, a) in enumerate(zip(before, after, strict=False)):
            out.extend(dropped_paths(b, a, f"{path}[{i}]"))
    return out


# -- CRD objects themselves ---------------------------------------------------------------------------
def crd_create(obj: dict[str, Any], _ctx: object) -> None:
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if CLEANUP_FINALIZER not in finalizers:
        finalizers.append(CLEANUP_FINALIZER)
    obj["status"] = crd_status(obj, stored=[])


def crd_update(old: dict[str, Any], obj: dict[str, Any], _ctx: object) -> None:
    stored = list((old.get("status") or {}).get("storedVersions", ()))
    obj["status"] = crd_status(obj, stored=stored)
    if obj["metadata"].get("deletionTimestamp"):
        obj["status"]["conditions"].append(
            _condition(
                "Terminating", "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress"
            )
        )


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": meta.timestamp(),
        "reason": reason,
        "message": message,
    }


def crd_status(crd: dict[str, Any], stored: list[str]) -> dict[str, Any]:
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    for version in spec.get("versions") or ():
        if version.get("storage") and version.get("name") not in stored:
            stored.append(version["name"])
    return {
        "acceptedNames": names,
        "conditions": [
            _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            _condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    }


def crd_validate(obj: dict[str, Any], _old: dict[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    causes: list[Cause] = []

    def invalid(path: str, value: Any, why: str) -> None:
        causes.append(field_errors.invalid(path, value, why))

    def required(path: str) -> None:
        causes.append(field_errors.required(path))

    group = spec.get("group", "")
    if not group:
        required("spec.group")
    elif "." not in group:
        invalid("spec.group", group, "should be a domain with at least one dot")
    for key in ("plural", "kind"):
        if not names.get(key):
            required(f"spec.names.{key}")
    plural = names.get("plural", "")
    if plural and plural != plural.lower():
        invalid("spec.names.plural", plural, "must be lowercase")
    if group and plural and obj["metadata"]["name"] != f"{plural}.{group}":
        invalid("metadata.name", obj["metadata"]["name"], 'must be spec.names.plural+"."+spec.group')
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        causes.append(field_errors.not_supported("spec.scope", scope, ("Cluster", "Namespaced")))
    versions = spec.get("versions") or []
    if not versions:
        required("spec.versions")
    elif sum(1 for v in versions if v.get("storage")) != 1:
        invalid("spec.versions", field_errors.OMIT, "must have exactly one version marked as storage version")
    for i, version in enumerate(versions):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        if schema is None:
            required(path)
            continue
        for error in structural_errors(schema):
            causes.append(field_errors.Cause("FieldValueInvalid", f"{path}: {error}", path))
    return causes
