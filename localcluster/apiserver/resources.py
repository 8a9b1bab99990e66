"""The verbs on stored objects (create/get/list/update/patch/delete), as kube-apiserver applies them.

This layer knows nothing about HTTP: handlers parse requests into calls here, internal controllers (garbage
collector, namespace lifecycle, CRD cleanup) call the same methods, so every write follows the same rules.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from localcluster import patching
from localcluster.schema import causes as field_errors

from . import admission, builtin_schema, crds, meta, selectors
from .errors import ApiError, already_exists, bad_request, conflict, forbidden, invalid, not_found
from .kinds import Registry, ResourceType
from .store import Store

NAMESPACES = ("", "namespaces")
PODS = ("", "pods")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

_CREATE_HOOKS: dict[tuple[str, str], Callable[[dict[str, Any], Any], None]] = {
    **admission.CREATE_HOOKS,
    crds.CRD_KEY: crds.crd_create,
}
_UPDATE_HOOKS: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, Any], Any], None]] = {
    **admission.UPDATE_HOOKS,
    crds.CRD_KEY: crds.crd_update,
}
_VALIDATE_HOOKS: dict[tuple[str, str], admission.ValidateHook] = {
    **admission.VALIDATE_HOOKS,
    crds.CRD_KEY: crds.crd_validate,
}
# System metadata a client cannot set; the server owns these.
_SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""  # required for apply; other writes default it from the User-Agent
    field_validation: str = "Warn"  # Ignore | Warn | Strict, as kube-apiserver's fieldValidation parameter
    force: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeleteOptions:
    propagation: str | None = None  # Background | Foreground | Orphan
    grace_period: int | None = None
    preconditions: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False


@dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""


class Resources:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        custom: crds.CustomResources,
        graceful_pod_deletion: bool = False,
    ) -> None:
        self.store = store
        self.registry = registry
        self.custom = custom
        self.graceful_pod_deletion = graceful_pod_deletion

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, rtype: ResourceType, version: str, namespace: str, name: str) -> dict[str, Any]:
        return self.served(rtype, version, self._existing(rtype, namespace, name))

    def matcher(self, rtype: ResourceType, options: ListOptions) -> Callable[[dict[str, Any]], bool]:
        try:
            labels = selectors.parse_label_selector(options.label_selector)
            fields = selectors.parse_field_selector(options.field_selector, rtype.supported_field_selectors())
        except selectors.SelectorError as exc:
            raise bad_request(str(exc)) from exc

        def matches(obj: dict[str, Any]) -> bool:
            return bool(labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj))

        return matches

    def list(
        self, rtype: ResourceType, version: str, namespace: str | None, options: ListOptions
    ) -> dict[str, Any]:
        matches = self.matcher(rtype, options)
        list_rv, after = self.store.rv, None
        if options.continue_token:
            list_rv, after = _decode_continue(options.continue_token)
        items: list[dict[str, Any]] = []
        remaining = 0
        last: tuple[str, str] | None = None
        for obj in self.store.objects(rtype.key, namespace or None, after):
            if not matches(obj):
                continue
            if options.limit and len(items) >= options.limit:
                remaining += 1
                continue
            items.append(self.served(rtype, version, obj))
            last = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        list_meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if remaining and last is not None:
            list_meta["continue"] = _encode_continue(list_rv, last)
            list_meta["remainingItemCount"] = remaining
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version(version),
            "metadata": list_meta,
            "items": items,
        }

    def served(self, rtype: ResourceType, version: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as the requested version presents it (custom resources convert with strategy None)."""
        api_version = rtype.api_version(version)
        if obj.get("apiVersion") == api_version:
            return obj
        return {**obj, "apiVersion": api_version}

    # -- create --------------------------------------------------------------------------------------------
    def create(
        self, rtype: ResourceType, version: str, namespace: str, body: dict[str, Any], options: WriteOptions
    ) -> dict[str, Any]:
        return self._create(rtype, version, namespace, body, options, "Update")

    def _create(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str,
        body: dict[str, Any],
        options: WriteOptions,
        operation: str,
    ) -> dict[str, Any]:
        obj = self._incoming(rtype, version, body)
        metadata = obj["metadata"]
        self._place(rtype, namespace, metadata)
        self._check_creatable(rtype, metadata)
        for key in (*_SYSTEM_METADATA, "resourceVersion"):
            metadata.pop(key, None)
        if operation != "Apply":
            metadata.pop("managedFields", None)
        if rtype.is_custom and rtype.has_status:
            obj.pop("status", None)
        hook = _CREATE_HOOKS.get(rtype.key)
        if hook is not None:
            hook(obj, admission.Context(self.store, namespace))
        obj = self._admit(rtype, version, obj, None, options)
        metadata = obj["metadata"]
        metadata["uid"] = meta.new_uid()
        metadata["creationTimestamp"] = meta.timestamp()
        if rtype.tracks_generation:
            metadata["generation"] = 1
        obj = self._record_manager(rtype, version, None, obj, options, operation, "")
        return self._insert(rtype, version, obj, options)

    def _insert(
        self, rtype: ResourceType, version: str, obj: dict[str, Any], options: WriteOptions
    ) -> dict[str, Any]:
        metadata = obj["metadata"]
        namespace = metadata.get("namespace", "")
        if not metadata.get("name"):
            # A generated name that collides is regenerated, as kube-apiserver retries it.
            for _ in range(8):
                metadata["name"] = meta.generated_name(metadata["generateName"])
                if self.store.get(rtype.key, namespace, metadata["name"]) is None:
                    break
        if self.store.get(rtype.key, namespace, metadata["name"]) is not None:
            raise already_exists(rtype.plural, rtype.group, metadata["name"])
        if options.dry_run:
            return self.served(rtype, version, obj)
        return self.served(rtype, version, self.store.put(rtype.key, obj, "ADDED"))

    def _incoming(self, rtype: ResourceType, version: str, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(f"the body must be a JSON object describing a {rtype.kind}")
        obj = meta.deep_copy(body)
        expected = rtype.api_version(version)
        if obj.get("apiVersion", expected) != expected or obj.get("kind", rtype.kind) != rtype.kind:
            raise bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                f"API version "
                f"({expected})"
                if obj.get("apiVersion", expected) != expected
                else f"the kind in the data ({obj.get('kind')}) does not match the expected kind "
                f"({rtype.kind})"
            )
        if not isinstance(obj.get("metadata") or {}, dict):
            raise bad_request("metadata must be an object")
        rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        return {
            "apiVersion": rtype.api_version(),
            "kind": rtype.kind,
            "metadata": dict(obj.get("metadata") or {}),
            **rest,
        }

    def _place(self, rtype: ResourceType, namespace: str, metadata: dict[str, Any]) -> None:
        if not rtype.namespaced:
            metadata.pop("namespace", None)
            return
        given = metadata.get("namespace")
        if given and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        metadata["namespace"] = namespace

    def _check_creatable(self, rtype: ResourceType, metadata: dict[str, Any]) -> None:
        name = metadata.get("name") or metadata.get("generateName", "")
        if not metadata.get("name") and not metadata.get("generateName"):
            raise invalid(
                rtype.kind,
                rtype.group,
                "",
                [field_errors.required("metadata.name", "name or generateName is required")],
            )
        if rtype.crd is not None and rtype.crd["metadata"].get("deletionTimestamp"):
            raise ApiError(405, "create not allowed while custom resource definition is terminating")
        if not rtype.namespaced:
            return
        namespace = self.store.get(NAMESPACES, "", metadata["namespace"])
        if namespace is None:
            raise not_found("namespaces", "", metadata["namespace"])
        if namespace["metadata"].get("deletionTimestamp"):
            raise forbidden(
                rtype.plural,
                rtype.group,
                name,
                f"unable to create new content in namespace {metadata['namespace']} "
                "because it is being terminated",
            )

    # -- update and patch ----------------------------------------------------------------------------------
    def update(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
        subresource: str,
        options: WriteOptions,
    ) -> dict[str, Any]:
        old = self._existing(rtype, namespace, name)
        new = self._incoming(rtype, version, body)
        new["metadata"].setdefault("namespace", old["metadata"].get("namespace"))
        if new["metadata"].get("name", name) != name:
            raise bad_request(
                f"the name of the object ({new['metadata']['name']}) "
                f"does not match the name on the URL ({name})"
            )
        return self._write(rtype, version, old, new, subresource, options, "Update")

    def patch(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        subresource: str,
        options: WriteOptions,
    ) -> dict[str, Any]:
        current = self.store.get(rtype.key, namespace, name)
        if patch_type == APPLY_PATCH:
            return self._apply(rtype, version, namespace, name, current, body, subresource, options)
        if current is None:
            raise not_found(rtype.plural, rtype.group, name)
        served = self.served(rtype, version, current)
        try:
            if patch_type == MERGE_PATCH:
                patched = patching.json_merge_patch(served, _object_body(body))
            elif patch_type == JSON_PATCH:
                if not isinstance(body, list):
                    raise bad_request("json patch must be a list of operations")
                patched = patching.json_patch(served, body)
            elif patch_type == STRATEGIC_PATCH:
                if rtype.is_custom:
                    raise _strategic_unsupported()
                merge_keys = patching.merge_keys_for(rtype.group, version, rtype.kind)
                patched = patching.strategic_merge_patch(served, _object_body(body), merge_keys)
            else:
                raise _strategic_unsupported()
        except patching.PatchError as exc:
            raise ApiError(exc.status, exc.message, exc.reason) from exc
        new = self._incoming(rtype, version, patched)
        return self._write(rtype, version, current, new, subresource, options, "Update")

    def _apply(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str,
        name: str,
        current: dict[str, Any] | None,
        body: Any,
        subresource: str,
        options: WriteOptions,
    ) -> dict[str, Any]:
        applied = self._incoming(rtype, version, _object_body(body))
        if applied["metadata"].get("name", name) != name:
            raise bad_request(
                f"the name of the object ({applied['metadata']['name']}) "
                f"does not match the name on the URL ({name})"
            )
        applied["metadata"]["name"] = name
        if rtype.namespaced:
            applied["metadata"].setdefault("namespace", namespace)
        if not options.field_manager:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        live = None if current is None else self.served(rtype, version, current)
        if subresource == "status":
            ignored = tuple(k for k in applied if k not in ("apiVersion", "kind", "metadata", "status"))
        else:
            ignored = ("status",) if rtype.has_status else ()
        try:
            result = patching.server_side_apply(
                live,
                self.served(rtype, version, applied),
                options.field_manager,
                options.force,
                meta.timestamp(),
                self._merge_keys(rtype, version),
                subresource,
                ignored,
            )
        except patching.PatchError as exc:
            raise ApiError(exc.status, exc.message, exc.reason) from exc
        if current is None:
            if subresource:
                raise not_found(rtype.plural, rtype.group, name)
            return self._create(rtype, version, namespace, result, options, "Apply")
        new = self._incoming(rtype, version, result)
        return self._write(rtype, version, current, new, subresource, options, "Apply")

    def _merge_keys(self, rtype: ResourceType, version: str) -> patching.MergeKeys | None:
        """None lets the patching module use the built-in kind's own list metadata."""
        return self.custom.merge_keys(rtype, version) if rtype.is_custom else None

    def _write(
        self,
        rtype: ResourceType,
        version: str,
        old: dict[str, Any],
        new: dict[str, Any],
        subresource: str,
        options: WriteOptions,
        operation: str,
    ) -> dict[str, Any]:
        name = old["metadata"]["name"]
        sent_rv = new["metadata"].get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype.plural, rtype.group, name)
        new = self._split_status(rtype, old, new, subresource)
        metadata = new["metadata"]
        for key in (*_SYSTEM_METADATA, "name", "namespace"):
            if key in old["metadata"]:
                metadata[key] = old["metadata"][key]
            else:
                metadata.pop(key, None)
        if old["metadata"].get("deletionTimestamp"):
            added = set(metadata.get("finalizers") or ()) - set(old["metadata"].get("finalizers") or ())
            if added:
                why = "no new finalizers can be added if the object is being deleted"
                raise invalid(
                    rtype.kind, rtype.group, name, [field_errors.forbidden("metadata.finalizers", why)]
                )
        hook = _UPDATE_HOOKS.get(rtype.key)
        if hook is not None:
            hook(old, new, admission.Context(self.store, metadata.get("namespace", "")))
        new = self._admit(rtype, version, new, old, options)
        metadata = new["metadata"]
        if rtype.tracks_generation and _spec_changed(rtype, old, new):
            metadata["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new = self._record_manager(rtype, version, old, new, options, operation, subresource)
        if _same(old, new):
            return self.served(rtype, version, old)
        if options.dry_run:
            return self.served(rtype, version, new)
        # As kube-apiserver: an update removes the object only when its grace period is already over (the old
        # object has deletionGracePeriodSeconds 0) and no finalizer holds it; a pod being deleted gracefully
        # stays, so the kubelet can report its final status before it finishes the deletion.
        grace_over = int(old["metadata"].get("deletionGracePeriodSeconds") or 0) == 0
        if metadata.get("deletionTimestamp") and grace_over and not _blocking_finalizers(rtype, new):
            final = self.store.remove(rtype.key, metadata.get("namespace", ""), name)
            return self.served(rtype, version, final)
        return self.served(rtype, version, self.store.put(rtype.key, new, "MODIFIED"))

    def _split_status(
        self, rtype: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str
    ) -> dict[str, Any]:
        """Status writes change only status; main-resource writes leave status alone (when split)."""
        if subresource == "status":
            merged = {k: v for k, v in old.items() if k != "status"}
            merged["metadata"] = {
                **old["metadata"],
                "resourceVersion": new["metadata"].get("resourceVersion"),
            }
            if "managedFields" in new["metadata"]:
                merged["metadata"]["managedFields"] = new["metadata"]["managedFields"]
            if "status" in new:
                merged["status"] = new["status"]
            return meta.deep_copy(merged)
        if subresource == "finalize" and rtype.key == NAMESPACES:
            finalizers = (new.get("spec") or {}).get("finalizers") or []
            return {**meta.deep_copy(old), "spec": {**old.get("spec", {}), "finalizers": finalizers}}
        if subresource:
            raise not_found(f"{rtype.plural}/{subresource}", rtype.group, old["metadata"]["name"])
        if rtype.has_status:
            if "status" in old:
                new["status"] = meta.deep_copy(old["status"])
            else:
                new.pop("status", None)
        return new

    # -- delete --------------------------------------------------------------------------------------------
    def delete(
        self, rtype: ResourceType, version: str, namespace: str, name: str, options: DeleteOptions
    ) -> dict[str, Any]:
        old = self._existing(rtype, namespace, name)
        metadata = old["metadata"]
        self._check_preconditions(rtype, old, options.preconditions)
        if rtype.key == NAMESPACES and name in PROTECTED_NAMESPACES:
            raise forbidden("namespaces", "", name, "this namespace may not be deleted")
        new = meta.deep_copy(old)
        new_meta = new["metadata"]
        finalizers = list(new_meta.get("finalizers") or ())
        policy_finalizer = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(
            options.propagation or ""
        )
        if policy_finalizer and not metadata.get("deletionTimestamp") and policy_finalizer not in finalizers:
            finalizers.append(policy_finalizer)
        if finalizers:
            new_meta["finalizers"] = finalizers
        grace = self._grace_period(rtype, old, options)
        if grace > 0 or _blocking_finalizers(rtype, new):
            when = meta.now() + timedelta(seconds=grace)
            current_grace = metadata.get("deletionGracePeriodSeconds")
            if not metadata.get("deletionTimestamp") or (current_grace is not None and grace < current_grace):
                new_meta["deletionTimestamp"] = meta.timestamp(when)
                new_meta["deletionGracePeriodSeconds"] = grace
            if rtype.key == NAMESPACES:
                new.setdefault("status", {})["phase"] = "Terminating"
            if _same(old, new) or options.dry_run:
                return self.served(rtype, version, new if options.dry_run else old)
            return self.served(rtype, version, self.store.put(rtype.key, new, "MODIFIED"))
        if options.dry_run:
            return self.served(rtype, version, old)
        return self.served(
            rtype, version, self.store.remove(rtype.key, namespace if rtype.namespaced else "", name)
        )

    def _grace_period(self, rtype: ResourceType, obj: dict[str, Any], options: DeleteOptions) -> int:
        """Pods on a node with a kubelet end gracefully: the kubelet stops them, then deletes with grace 0."""
        if rtype.key != PODS or not self.graceful_pod_deletion:
            return 0
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if options.grace_period is not None:
            return max(0, options.grace_period)
        return int(spec.get("terminationGracePeriodSeconds", 30))

    def _check_preconditions(
        self, rtype: ResourceType, obj: dict[str, Any], preconditions: dict[str, Any]
    ) -> None:
        metadata = obj["metadata"]
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = preconditions.get(key)
            if wanted and wanted != metadata.get(key):
                raise conflict(
                    rtype.plural,
                    rtype.group,
                    metadata["name"],
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {metadata.get(key)}",
                )

    def delete_collection(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        options: ListOptions,
        delete: DeleteOptions,
    ) -> dict[str, Any]:
        listed = self.list(
            rtype, version, namespace, ListOptions(options.label_selector, options.field_selector)
        )
        items = []
        for obj in listed["items"]:
            metadata = obj["metadata"]
            try:
                items.append(
                    self.delete(rtype, version, metadata.get("namespace", ""), metadata["name"], delete)
                )
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return {**listed, "items": items}

    # -- shared steps --------------------------------------------------------------------------------------
    def _existing(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rtype.key, namespace if rtype.namespaced else "", name)
        if obj is None:
            raise not_found(rtype.plural, rtype.group, name)
        return obj

    def _admit(
        self,
        rtype: ResourceType,
        version: str,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        options: WriteOptions,
    ) -> dict[str, Any]:
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
        if rtype.is_custom:
            obj, dropped, causes = self.custom.admit(rtype, version, obj, old)
        else:
            obj, dropped = builtin_schema.prune_unknown(rtype.definition, obj)
            hook = _VALIDATE_HOOKS.get(rtype.key)
            causes = hook(obj, old) if hook is not None else []
            if rtype.key not in (NAMESPACES, ("", "services")) and obj["metadata"].get("name"):
                causes = _name_causes(obj["metadata"]["name"]) + causes
        if dropped and options.field_validation == "Strict":
            unknown = ", ".join(f'unknown field "{path}"' for path in dropped)
            raise bad_request(
                f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}: '
                "strict decoding error: "
                f"{unknown}"
            )
        if options.field_validation == "Warn":
            options.warnings.extend(f'unknown field "{path}"' for path in dropped)
        if causes:
            raise invalid(rtype.kind, rtype.group, name, causes)
        return obj

    def _record_manager(
        self,
        rtype: ResourceType,
        version: str,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        options: WriteOptions,
        operation: str,
        subresource: str,
    ) -> dict[str, Any]:
        """managedFields after a write: apply results carry their own; other writes record an Update entry."""
        if operation == "Apply":
            return new
        managed = patching.record_update(
            old,
            new,
            options.field_manager or "unknown",
            meta.timestamp(),
            self._merge_keys(rtype, version),
            subresource if subresource == "status" else "",
        )
        return {**new, "metadata": {**new["metadata"], "managedFields": managed}}


def _name_causes(name: str) -> list[field_errors.Cause]:
    return [field_errors.invalid("metadata.name", name, error) for error in meta.dns_subdomain_errors(name)]


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the patch must be a JSON object")
    return body


def _strategic_unsupported() -> ApiError:
    return ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        "UnsupportedMediaType",
    )


def _spec_changed(rtype: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if rtype.is_custom:
        ignored = ("metadata", "status") if rtype.has_status else ("metadata",)
        return {k: v for k, v in old.items() if k not in ignored} != {
            k: v for k, v in new.items() if k not in ignored
        }
    return old.get("spec") != new.get("spec")


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A write that changes nothing but bookkeeping is a no-op: no new resourceVersion, no event.

    A change of ownership alone (a second manager applying the value already there) is a real change, as
    in kube-apiserver, which ignores only managedFields timestamps.
    """
    ignored = ("metadata.resourceVersion", "metadata.managedFields")
    if meta.without(old, *ignored) != meta.without(new, *ignored):
        return False
    return _ownership(old) == _ownership(new)


def _ownership(obj: dict[str, Any]) -> list[dict[str, Any]]:
    entries = obj["metadata"].get("managedFields") or []
    return [{k: v for k, v in entry.items() if k != "time"} for entry in entries if isinstance(entry, dict)]


def _blocking_finalizers(rtype: ResourceType, obj: dict[str, Any]) -> bool:
    if obj["metadata"].get("finalizers"):
        return True
    return rtype.key == NAMESPACES and bool((obj.get("spec") or {}).get("finalizers"))


def _encode_continue(rv: int, last: tuple[str, str]) -> str:
    raw = json.dumps({"rv": rv, "start": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as exc:
        raise bad_request(f"invalid continue token: {token!r}") from exc
