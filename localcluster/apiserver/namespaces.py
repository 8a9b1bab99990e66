"""Namespace lifecycle: a `default` ServiceAccount in every namespace; deletion empties it, then removes it.

Also cleans up a deleted CRD's objects before the CRD goes, the same "empty first, then finalize" pattern.
"""

from __future__ import annotations

from collections.abc import Hashable

from . import crds
from .controllers import Controller
from .errors import ApiError
from .resources import MERGE_PATCH, NAMESPACES, DeleteOptions, Resources, WriteOptions
from .watch import ChangeEvent

SERVICE_ACCOUNTS = ("", "serviceaccounts")
MANAGER = "kube-controller-manager"


class NamespaceController(Controller):
    name = "namespace-controller"

    def __init__(self, resources: Resources) -> None:
        super().__init__()
        self.resources = resources
        self.store = resources.store

    def observe(self, event: ChangeEvent) -> list[Hashable]:
        if event.key == NAMESPACES:
            return [event.obj["metadata"]["name"]] if event.type != "DELETED" else []
        namespace = event.namespace
        if event.type == "DELETED" and namespace:
            ns = self.store.get(NAMESPACES, "", namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                return [namespace]
        return []

    def reconcile(self, item: Hashable) -> bool:
        assert isinstance(item, str)
        namespace = self.store.get(NAMESPACES, "", item)
        if namespace is None:
            return False
        if not namespace["metadata"].get("deletionTimestamp"):
            self._ensure_service_account(item)
            return False
        remaining = False
        for key in self.store.namespaced_keys(item):
            rtype = self.resources.registry.get(*key)
            if rtype is None:
                continue
            for obj in list(self.store.objects(key, item)):
                remaining = True
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(rtype.key, item, obj["metadata"]["name"])
        if not remaining or not self.store.namespaced_keys(item):
            self._finalize(item)
        return False

    def _ensure_service_account(self, namespace: str) -> None:
        if self.store.get(SERVICE_ACCOUNTS, namespace, "default") is not None:
            return
        rtype = self.resources.registry.get(*SERVICE_ACCOUNTS)
        assert rtype is not None
        body = {"metadata": {"name": "default", "namespace": namespace}}
        try:
            self.resources.create(rtype, "v1", namespace, body, WriteOptions(field_manager=MANAGER))
        except ApiError as exc:
            if exc.code != 409:
                raise

    def _delete(self, key: tuple[str, str], namespace: str, name: str) -> None:
        rtype = self.resources.registry.get(*key)
        if rtype is None:
            return
        try:
            self.resources.delete(rtype, rtype.storage_version, namespace, name, DeleteOptions("Background"))
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _finalize(self, name: str) -> None:
        rtype = self.resources.registry.get(*NAMESPACES)
        assert rtype is not None
        self.resources.update(
            rtype,
            "v1",
            "",
            name,
            {"metadata": {"name": name}, "spec": {"finalizers": []}},
            "finalize",
            WriteOptions(field_manager=MANAGER),
        )


class CrdCleanupController(Controller):
    """A deleted CRD first loses all its objects (finalizers honoured), then its cleanup finalizer."""

    name = "crd-cleanup"

    def __init__(self, resources: Resources) -> None:
        super().__init__()
        self.resources = resources
        self.store = resources.store

    def observe(self, event: ChangeEvent) -> list[Hashable]:
        if (
            event.key == crds.CRD_KEY
            and event.obj["metadata"].get("deletionTimestamp")
            and event.type != "DELETED"
        ):
            return [event.obj["metadata"]["name"]]
        rtype = self.resources.registry.get(*event.key)
        crd = None if rtype is None else rtype.crd
        if event.type == "DELETED" and crd is not None and crd["metadata"].get("deletionTimestamp"):
            return [crd["metadata"]["name"]]
        return []

    def reconcile(self, item: Hashable) -> bool:
        assert isinstance(item, str)
        crd = self.store.get(crds.CRD_KEY, "", item)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return False
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        rtype = self.resources.registry.get(group, plural)
        if rtype is not None:
            for obj in list(self.store.objects(rtype.key)):
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.resources.delete(
                        rtype,
                        rtype.storage_version,
                        obj["metadata"].get("namespace", ""),
                        obj["metadata"]["name"],
                        DeleteOptions("Background"),
                    )
                except ApiError as exc:
                    if exc.code != 404:
                        raise
        if self.store.count((group, plural)) == 0:
            crd_type = self.resources.registry.get(*crds.CRD_KEY)
            assert crd_type is not None
            finalizers = [f for f in crd["metadata"].get("finalizers") or () if f != crds.CLEANUP_FINALIZER]
            current = self.store.get(crds.CRD_KEY, "", item)
            assert current is not None
            self.resources.patch(
                crd_type,
                "v1",
                "",
                item,
                MERGE_PATCH,
                {
                    "metadata": {
                        "finalizers": finalizers or None,
                        "resourceVersion": current["metadata"]["resourceVersion"],
                    }
                },
                "",
                WriteOptions(field_manager=MANAGER),
            )
        return False
