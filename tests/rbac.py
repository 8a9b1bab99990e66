"""Kubernetes RBAC's rule for namespaced Roles, evaluated over plain manifests.

The local cluster stores Roles and RoleBindings without enforcing them (docs/local-cluster.md, "What is not
emulated"), so the tests ask this evaluator instead what a subject may do, over the objects the operator
builds (pure tests) or actually wrote to the cluster (e2e). It follows the RBAC authorizer: a request is
allowed when some RoleBinding in the namespace names the subject and its Role has a rule matching the API
group, resource, verb and (when the rule lists any) the object's name. Only what these tests need: Roles,
ServiceAccount subjects, no aggregation, no ClusterRoles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values)
    return "*" in values or wanted in values


def allowed(
    objects: Iterable[Mapping[str, Any]],
    service_account: tuple[str, str],
    verb: str,
    resource: str,
    name: str,
    group: str = "",
) -> bool:
    """May ServiceAccount (namespace, name) do `verb` on object `name` of `resource` in that namespace?"""
    namespace, account = service_account
    objects = list(objects)
    roles = {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == "Role" and o["metadata"].get("namespace") == namespace
    }
    for binding in objects:
        if binding["kind"] != "RoleBinding" or binding["metadata"].get("namespace") != namespace:
            continue
        named = any(
            subject.get("kind") == "ServiceAccount"
            and subject.get("name") == account
            and subject.get("namespace", namespace) == namespace
            for subject in binding.get("subjects") or []
        )
        ref = binding["roleRef"]
        role = roles.get(ref["name"]) if ref["kind"] == "Role" else None
        if not named or role is None:
            continue
        for rule in role.get("rules") or []:
            if (
                _matches(rule.get("apiGroups") or [], group)
                and _matches(rule.get("resources") or [], resource)
                and _matches(rule.get("verbs") or [], verb)
                and (not rule.get("resourceNames") or name in rule["resourceNames"])
            ):
                return True
    return False
