"""Wire-level behaviour over plain HTTP: discovery, OpenAPI, representations, faults, logs, proxy, CRDs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from localcluster.apiserver import ApiServer, pod_log_path
from tests.aiohttp_serving import serving

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def http(local_apiserver) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=local_apiserver.url) as session:
        yield session


@pytest.fixture
async def ns(http: aiohttp.ClientSession) -> str:
    name = f"h-{uuid.uuid4().hex[:8]}"
    await call(http, "POST", "/api/v1/namespaces", {"metadata": {"name": name}}, expect=201)
    return name


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, expect: int = 200, **headers: str
) -> Any:
    data = None if body is None else json.dumps(body)
    async with http.request(method, path, data=data, headers=headers) as response:
        text = await response.text()
        assert response.status == expect, text
        return (
            json.loads(text) if response.content_type == "application/json" or text.startswith("{") else text
        )


def widget_crd(plural: str, versions: list[str]) -> dict:
    kind = plural.capitalize()[:-1]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.http.example.com"},
        "spec": {
            "group": "http.example.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": version == versions[0],
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
                for version in versions
            ],
        },
    }


async def test_discovery_plain_and_aggregated(http):
    core = await call(http, "GET", "/api")
    assert core["versions"] == ["v1"]
    async with http.get("/apis", headers={"Accept": AGGREGATED}) as response:
        assert response.headers["Content-Type"] == (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        groups = await response.json(content_type=None)
    names = [item["metadata"]["name"] for item in groups["items"]]
    assert "apps" in names and "coordination.k8s.io" in names
    async with http.get("/api", headers={"Accept": AGGREGATED}) as response:
        core_groups = await response.json(content_type=None)
    pods = next(r for r in core_groups["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "log"}
    resources = await call(http, "GET", "/api/v1")
    names = {r["name"] for r in resources["resources"]}
    assert {"pods", "pods/status", "pods/log", "namespaces/status"} <= names
    version = await call(http, "GET", "/version")
    assert (version["major"], version["minor"]) == ("1", "35")
    assert await call(http, "GET", "/healthz") == "ok"
    missing = await call(http, "GET", "/apis/nothing.example.com/v1/things", expect=404)
    assert missing["kind"] == "Status" and missing["reason"] == "NotFound"


async def test_crd_is_served_at_once_with_status_conditions_and_openapi(http):
    crd = await call(
        http,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        widget_crd("sprockets", ["v1", "v1beta1"]),
        expect=201,
    )
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    listed = await call(http, "GET", "/apis/http.example.com/v1/sprockets")
    assert listed["kind"] == "SprocketList" and listed["items"] == []
    group = await call(http, "GET", "/apis/http.example.com")
    assert group["preferredVersion"]["version"] == "v1"
    index = await call(http, "GET", "/openapi/v3")
    url = index["paths"]["apis/http.example.com/v1"]["serverRelativeURL"]
    document = await call(http, "GET", url)
    patch = document["paths"]["/apis/http.example.com/v1/namespaces/{namespace}/sprockets/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}


async def test_custom_objects_are_served_in_every_version_and_cleaned_up_with_the_crd(
    http, ns, local_apiserver
):
    await call(
        http,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        widget_crd("cogs", ["v2", "v1"]),
        expect=201,
    )
    body = {
        "apiVersion": "http.example.com/v1",
        "kind": "Cog",
        "metadata": {"name": "c"},
        "spec": {"teeth": 9},
    }
    await call(http, "POST", f"/apis/http.example.com/v1/namespaces/{ns}/cogs", body, expect=201)
    as_v2 = await call(http, "GET", f"/apis/http.example.com/v2/namespaces/{ns}/cogs/c")
    assert as_v2["apiVersion"] == "http.example.com/v2" and as_v2["spec"] == {"teeth": 9}
    await call(
        http, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/cogs.http.example.com"
    )
    for _ in range(100):
        async with http.get("/apis/http.example.com/v2") as response:
            if response.status == 404:
                break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the CRD's resource is still served after deletion")
    server: ApiServer = local_apiserver.server
    assert local_apiserver.call(server.store.count, ("http.example.com", "cogs")) == 0


async def test_tables_and_partial_metadata(http, ns):
    await call(
        http,
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        expect=201,
    )
    table = await call(
        http,
        "GET",
        f"/api/v1/namespaces/{ns}/pods?includeObject=Object",
        Accept="application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert table["rows"][0]["cells"][:3] == ["p", "0/1", "Pending"]
    assert table["rows"][0]["object"]["kind"] == "Pod"
    partial = await call(
        http,
        "GET",
        f"/api/v1/namespaces/{ns}/pods",
        Accept="application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    )
    assert partial["kind"] == "PartialObjectMetadataList" and partial["items"][0]["metadata"]["name"] == "p"
    bad = await call(
        http,
        "GET",
        f"/api/v1/namespaces/{ns}/pods?includeObject=Everything",
        expect=400,
        Accept="application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    assert "includeObject" in bad["message"]


async def test_field_validation_warn_and_dry_run(http, ns):
    body = {"metadata": {"name": "cm", "bogus": 1}, "data": {"a": "b"}, "extra": True}
    async with http.post(
        f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Warn&dryRun=All", json=body
    ) as response:
        assert response.status == 201
        warnings = response.headers.getall("Warning")
        created = await response.json()
    assert sorted(warnings) == [
        '299 - "unknown field \\"extra\\""',
        '299 - "unknown field \\"metadata.bogus\\""',
    ]
    assert "extra" not in created
    await call(http, "GET", f"/api/v1/namespaces/{ns}/configmaps/cm", expect=404)


async def test_fault_admin_endpoints(http, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    await call(
        http,
        "POST",
        "/localcluster/v1/faults/fail",
        {"method": "GET", "path": f"{path}$", "status": 503, "count": 2},
    )
    for _ in range(2):
        failed = await call(http, "GET", path, expect=503)
        assert failed["kind"] == "Status" and failed["reason"] == "ServiceUnavailable"
    await call(http, "GET", path)
    await call(
        http, "POST", "/localcluster/v1/faults/delay", {"method": "*", "path": f"{path}$", "seconds": 0.3}
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await call(http, "GET", path)
    assert loop.time() - started >= 0.3
    assert len((await call(http, "GET", "/localcluster/v1/faults"))["delays"]) == 1
    await call(http, "DELETE", "/localcluster/v1/faults")
    assert await call(http, "GET", "/localcluster/v1/faults") == {"failures": [], "delays": []}
    bad = await call(http, "POST", "/localcluster/v1/faults/fail", {"status": 500}, expect=400)
    assert "path" in bad["message"]


async def test_pod_log_follow_ends_when_container_terminates(http, ns, local_apiserver):
    pod = await call(
        http,
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        expect=201,
    )
    path = pod_log_path(local_apiserver.server.state_dir, ns, "p", pod["metadata"]["uid"], "c")
    waiting = await call(http, "GET", f"/api/v1/namespaces/{ns}/pods/p/log", expect=400)
    assert 'container "c" in pod "p" is waiting to start' in waiting["message"]
    path.parent.mkdir(parents=True)
    path.write_text("first\n")
    async with http.get(f"/api/v1/namespaces/{ns}/pods/p/log?follow=true") as response:
        assert await asyncio.wait_for(response.content.readline(), 5) == b"first\n"
        with path.open("a") as log:
            log.write("second\n")
        assert await asyncio.wait_for(response.content.readline(), 5) == b"second\n"
        terminated = {
            "status": {"containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0}}}]}
        }
        await call(http, "PATCH", f"/api/v1/namespaces/{ns}/pods/p/status", terminated, **MERGE)
        assert await asyncio.wait_for(response.content.read(), 5) == b""


async def test_service_proxy_reaches_a_ready_pod(http, ns):
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.path} {request.query.get('q', '')}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    async with serving(app) as port:
        pod = {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": port}]}
                ]
            },
        }
        await call(http, "POST", f"/api/v1/namespaces/{ns}/pods", pod, expect=201)
        svc = {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
        await call(http, "POST", f"/api/v1/namespaces/{ns}/services", svc, expect=201)
        unready = await call(http, "GET", f"/api/v1/namespaces/{ns}/services/web:80/proxy/x", expect=503)
        assert "no endpoints available" in unready["message"]
        ready = {"status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}}
        await call(http, "PATCH", f"/api/v1/namespaces/{ns}/pods/web/status", ready, **MERGE)
        answer = await call(http, "GET", f"/api/v1/namespaces/{ns}/services/web:80/proxy/greet/me?q=1")
        assert answer == "hello /greet/me 1"


async def test_state_persists_across_restarts(tmp_path):
    first = ApiServer(tmp_path, persist=True)
    await first.start()
    async with aiohttp.ClientSession(base_url=first.url) as session:
        await call(
            session,
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            widget_crd("levers", ["v1"]),
            expect=201,
        )
        lever = {
            "apiVersion": "http.example.com/v1",
            "kind": "Lever",
            "metadata": {"name": "l"},
            "spec": {"x": 1},
        }
        await call(session, "POST", "/apis/http.example.com/v1/namespaces/default/levers", lever, expect=201)
        rv = (await call(session, "GET", "/api/v1/namespaces"))["metadata"]["resourceVersion"]
    await first.stop()
    second = ApiServer(tmp_path, persist=True)
    await second.start()
    try:
        async with aiohttp.ClientSession(base_url=second.url) as session:
            restored = await call(session, "GET", "/apis/http.example.com/v1/namespaces/default/levers/l")
            assert restored["spec"] == {"x": 1}
            again = (await call(session, "GET", "/api/v1/namespaces"))["metadata"]["resourceVersion"]
            assert again == rv
    finally:
        await second.stop()


async def test_settle_waits_for_the_garbage_collector(tmp_path):
    server = ApiServer(tmp_path)
    await server.start()
    try:
        async with aiohttp.ClientSession(base_url=server.url) as session:
            base = "/api/v1/namespaces/default/configmaps"
            owner = await call(session, "POST", base, {"metadata": {"name": "owner"}}, expect=201)
            ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            await call(
                session, "POST", base, {"metadata": {"name": "child", "ownerReferences": [ref]}}, expect=201
            )
            await call(session, "DELETE", f"{base}/owner")
            await server.settle()
            await call(session, "GET", f"{base}/child", expect=404)
    finally:
        await server.stop()


async def test_crd_selectable_fields_are_field_selectors(http, ns):
    crd = widget_crd("valves", ["v1"])
    crd["spec"]["versions"][0]["selectableFields"] = [{"jsonPath": ".spec.color"}]
    await call(http, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, expect=201)
    base = f"/apis/http.example.com/v1/namespaces/{ns}/valves"
    for name, color in (("a", "red"), ("b", "blue")):
        body = {
            "apiVersion": "http.example.com/v1",
            "kind": "Valve",
            "metadata": {"name": name},
            "spec": {"color": color},
        }
        await call(http, "POST", base, body, expect=201)
    red = await call(http, "GET", f"{base}?fieldSelector=spec.color%3Dred")
    assert [item["metadata"]["name"] for item in red["items"]] == ["a"]
    unsupported = await call(http, "GET", f"{base}?fieldSelector=spec.size%3D1", expect=400)
    assert "field label not supported: spec.size" in unsupported["message"]


async def test_errors_are_status_objects(http, ns):
    not_allowed = await call(http, "POST", "/api/v1/pods", {"metadata": {"name": "p"}}, expect=405)
    assert (not_allowed["kind"], not_allowed["reason"]) == ("Status", "MethodNotAllowed")
    await call(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cm"}}, expect=201)
    media = await call(
        http,
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/cm",
        {"data": {}},
        expect=415,
        **{"Content-Type": "text/plain"},
    )
    assert media["reason"] == "UnsupportedMediaType" and "application/merge-patch+json" in media["message"]
    bad = await call(http, "GET", f"/api/v1/namespaces/{ns}/configmaps?labelSelector=a%20in%20(", expect=400)
    assert bad["reason"] == "BadRequest"
    wrong_kind = await call(
        http,
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        {"kind": "Secret", "metadata": {"name": "x"}},
        expect=400,
    )
    assert "does not match the expected kind (ConfigMap)" in wrong_kind["message"]
