"""OpenAPI v3 documents: index shape, resolvable references, fieldValidation on writes, stable hashes."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import pytest

from localcluster.apiserver.openapi import OpenAPIV3, ResourceDescription, document_hash, group_version_path

AGENT_SCHEMA = {
    "type": "object",
    "description": "An LLM agent supervised OTP-style.",
    "properties": {
        "spec": {
            "type": "object",
            "description": "Desired state of the agent.",
            "properties": {"model": {"type": "string", "description": "The model the agent runs."}},
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@functools.cache
def bundled_definitions() -> dict[str, Any]:
    text = resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema/v1.35.0-local/_definitions.json"
    )
    loaded: dict[str, Any] = json.loads(text.read_text())["$defs"]
    return loaded


def served(agent_schema: dict[str, Any] = AGENT_SCHEMA) -> list[ResourceDescription]:
    return [
        ResourceDescription(
            "", "v1", "Pod", "pods", True, ("status", "log"), definition="io.k8s.api.core.v1.Pod"
        ),
        ResourceDescription(
            "", "v1", "Namespace", "namespaces", False, ("status",), definition="io.k8s.api.core.v1.Namespace"
        ),
        ResourceDescription(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            True,
            definition="io.k8s.api.coordination.v1.Lease",
        ),
        ResourceDescription(
            "otp.example.com", "v1", "Agent", "agents", True, ("status",), schema=agent_schema
        ),
    ]


@pytest.fixture(scope="module")
def docs() -> OpenAPIV3:
    return OpenAPIV3(served(), bundled_definitions())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in references(item)]
    return []


def test_index_lists_each_group_version_with_its_hash(docs: OpenAPIV3) -> None:
    index = docs.index()
    assert sorted(index["paths"]) == ["api/v1", "apis/coordination.k8s.io/v1", "apis/otp.example.com/v1"]
    for path, entry in index["paths"].items():
        document = docs.document(path)
        assert document is not None
        assert entry["serverRelativeURL"] == f"/openapi/v3/{path}?hash={document_hash(document)}"


def test_group_version_paths() -> None:
    assert group_version_path("", "v1") == "api/v1"
    assert group_version_path("otp.example.com", "v1alpha1") == "apis/otp.example.com/v1alpha1"


def test_unknown_group_version_has_no_document(docs: OpenAPIV3) -> None:
    assert docs.document("apis/nope.example.com/v1") is None


def test_hash_is_deterministic_and_follows_content() -> None:
    first = OpenAPIV3(served(), bundled_definitions())
    again = OpenAPIV3(list(reversed(served())), bundled_definitions())
    assert first.index() == again.index()
    changed_schema = {**AGENT_SCHEMA, "description": "changed"}
    changed = OpenAPIV3(served(changed_schema), bundled_definitions())
    assert changed.hash("apis/otp.example.com/v1") != first.hash("apis/otp.example.com/v1")
    assert changed.hash("api/v1") == first.hash("api/v1")


@pytest.mark.parametrize("path", ["api/v1", "apis/coordination.k8s.io/v1", "apis/otp.example.com/v1"])
def test_every_reference_resolves_within_the_document(docs: OpenAPIV3, path: str) -> None:
    document = docs.document(path)
    assert document is not None
    schemas = document["components"]["schemas"]
    refs = references(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas


@pytest.mark.parametrize("path", ["api/v1", "apis/coordination.k8s.io/v1", "apis/otp.example.com/v1"])
def test_writes_offer_field_validation_and_name_their_kind(docs: OpenAPIV3, path: str) -> None:
    document = docs.document(path)
    assert document is not None
    writes = [(p, m, op) for p, m, op in operations(document) if m in {"post", "put", "patch"}]
    assert writes
    for _, _, operation in writes:
        names = {(parameter["name"], parameter["in"]) for parameter in operation["parameters"]}
        assert ("fieldValidation", "query") in names
        assert set(operation["x-kubernetes-group-version-kind"]) == {"group", "version", "kind"}


def test_namespace_patch_is_tagged_for_kubectls_crd_fallback(docs: OpenAPIV3) -> None:
    document = docs.document("api/v1")
    assert document is not None
    patch = document["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Namespace"}


def test_custom_resource_schema_is_tagged_and_complete(docs: OpenAPIV3) -> None:
    document = docs.document("apis/otp.example.com/v1")
    assert document is not None
    schemas = document["components"]["schemas"]
    agent = schemas["com.example.otp.v1.Agent"]
    assert agent["x-kubernetes-group-version-kind"] == [
        {"group": "otp.example.com", "kind": "Agent", "version": "v1"}
    ]
    assert agent["description"] == "An LLM agent supervised OTP-style."
    assert agent["properties"]["spec"]["properties"]["model"]["description"] == "The model the agent runs."
    assert agent["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    listed = schemas["com.example.otp.v1.AgentList"]
    assert listed["properties"]["items"]["items"] == {"$ref": "#/components/schemas/com.example.otp.v1.Agent"}
    assert listed["x-kubernetes-group-version-kind"][0]["kind"] == "AgentList"


def test_custom_resource_paths_and_patch_types(docs: OpenAPIV3) -> None:
    document = docs.document("apis/otp.example.com/v1")
    assert document is not None
    assert sorted(document["paths"]) == [
        "/apis/otp.example.com/v1/agents",
        "/apis/otp.example.com/v1/namespaces/{namespace}/agents",
        "/apis/otp.example.com/v1/namespaces/{namespace}/agents/{name}",
        "/apis/otp.example.com/v1/namespaces/{namespace}/agents/{name}/status",
    ]
    patch = document["paths"]["/apis/otp.example.com/v1/namespaces/{namespace}/agents/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]


def test_builtin_schemas_keep_patch_metadata_in_openapi3_form(docs: OpenAPIV3) -> None:
    document = docs.document("api/v1")
    assert document is not None
    schemas = document["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["type"] == "object"
    assert "enum" not in pod["properties"]["apiVersion"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert "null" not in json.dumps(schemas["io.k8s.api.core.v1.Container"])


def test_cluster_scoped_kinds_have_no_namespace_segment(docs: OpenAPIV3) -> None:
    document = docs.document("api/v1")
    assert document is not None
    namespace_paths = [
        path for path in document["paths"] if "/namespaces" in path and "namespaces/{namespace}" not in path
    ]
    assert sorted(namespace_paths) == [
        "/api/v1/namespaces",
        "/api/v1/namespaces/{name}",
        "/api/v1/namespaces/{name}/status",
    ]


def test_pod_log_is_plain_text(docs: OpenAPIV3) -> None:
    document = docs.document("api/v1")
    assert document is not None
    log = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert log["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_unknown_builtin_definition_is_a_clear_error() -> None:
    bogus = ResourceDescription("", "v1", "Widget", "widgets", True, definition="io.k8s.api.core.v1.Widget")
    with pytest.raises(ValueError, match=r"Widget \(core/v1\): definition 'io.k8s.api.core.v1.Widget'"):
        OpenAPIV3([bogus], bundled_definitions())
