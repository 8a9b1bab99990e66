"""The Service DNS proxy in process: host names, routing, namespaces of bare names, streaming, refusals."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web

from localcluster.apiserver import ApiServer
from localcluster.apiserver.service_dns_proxy import ServiceHost, parse_service_host, pod_proxy_url

MERGE = {"Content-Type": "application/merge-patch+json"}
NAME = web.AppKey("name", str)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("worker", ServiceHost("worker", None)),
        ("worker.team-a", ServiceHost("worker", "team-a", maybe_outside=True)),
        ("worker.team-a.svc", ServiceHost("worker", "team-a")),
        ("worker.team-a.svc.cluster.local", ServiceHost("worker", "team-a")),
        ("Model-Server.Agent-Supervisor-System.SVC.", ServiceHost("model-server", "agent-supervisor-system")),
        ("worker.1team.svc", ServiceHost("worker", "1team")),
    ],
)
def test_service_host_forms(host: str, expected: ServiceHost) -> None:
    assert parse_service_host(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",
        "127.0.1.5",
        "::1",
        "",
        "1worker",  # a Service name starts with a letter
        "under_score",
        "worker.team-a.svc.cluster",
        "worker.team-a.svc.example.org",
        "www.example.com",
        "worker-.team",
        "a" * 64,
    ],
)
def test_other_hosts_are_no_service_names(host: str) -> None:
    assert parse_service_host(host) is None


def test_pod_proxy_url_names_the_pod() -> None:
    assert pod_proxy_url("http://127.0.0.1:4321", "team-a", "web-0") == "http://team-a:web-0@127.0.0.1:4321"


# --- routing through a running server --------------------------------------------------------------------


async def echo(request: web.Request) -> web.Response:
    body = {
        "backend": request.app[NAME],
        "method": request.method,
        "path": request.path_qs,
        "host": request.headers.get("Host"),
        "authorization": request.headers.get("Authorization"),
        "proxy_authorization": request.headers.get("Proxy-Authorization"),
    }
    return web.json_response(body)


async def stream_back(request: web.Request) -> web.StreamResponse:
    """Echoes the body chunk by chunk; headers say how the request body was framed."""
    response = web.StreamResponse(
        headers={
            "X-Request-Length": str(request.content_length),
            "X-Request-Chunked": str("chunked" in request.headers.get("Transfer-Encoding", "")),
        }
    )
    await response.prepare(request)
    async for chunk in request.content.iter_chunked(8192):
        await response.write(chunk)
    await response.write_eof()
    return response


Backend = Callable[[str, str], Awaitable[int]]


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    """backend(name, address) starts an HTTP server on address:<free port> and returns the port."""
    runners: list[web.AppRunner] = []

    async def start(name: str, address: str) -> int:
        app = web.Application()
        app[NAME] = name
        app.router.add_post("/stream", stream_back)
        app.router.add_route("*", "/{tail:.*}", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, 0).start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[ApiServer]:
    running = ApiServer(tmp_path)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def api(server: ApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


async def call(api: aiohttp.ClientSession, method: str, path: str, body: Any, **headers: str) -> None:
    async with api.request(method, path, data=json.dumps(body), headers=headers) as response:
        assert response.status < 300, await response.text()


async def namespace(api: aiohttp.ClientSession) -> str:
    name = f"d-{uuid.uuid4().hex[:8]}"
    await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


async def ready_pod(
    api: aiohttp.ClientSession,
    ns: str,
    name: str,
    address: str,
    port: int,
    ready: bool = True,
    app: str = "echo",
) -> None:
    pod = {
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": port}]}]
        },
    }
    await call(api, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
    status = {"podIP": address, "conditions": [{"type": "Ready", "status": str(ready)}]}
    await call(api, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": status}, **MERGE)


async def service(api: aiohttp.ClientSession, ns: str, name: str = "echo", target: Any = "http") -> None:
    spec = {"selector": {"app": "echo"}, "ports": [{"name": "web", "port": 8000, "targetPort": target}]}
    await call(api, "POST", f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": name}, "spec": spec})


def proxied(server: ApiServer, credentials: str = "") -> httpx.AsyncClient:
    proxy = server.service_proxy_url.replace(
        "http://", f"http://{credentials}@" if credentials else "http://"
    )
    return httpx.AsyncClient(proxy=proxy, trust_env=False, timeout=10)


async def test_every_dns_form_reaches_the_service_keeping_path_query_host_and_authorization(
    server: ApiServer, api: aiohttp.ClientSession, backend: Backend
) -> None:
    ns = await namespace(api)
    await ready_pod(api, ns, "echo-0", "127.0.2.1", await backend("one", "127.0.2.1"))
    await service(api, ns)
    async with proxied(server, f"{ns}:client") as client:
        for host in (f"echo.{ns}", f"echo.{ns}.svc", f"echo.{ns}.svc.cluster.local", "echo"):
            answer = await client.get(
                f"http://{host}:8000/a%2Fb/c?q=1&r=x%20y", headers={"Authorization": "t"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json() == {
                "backend": "one",
                "method": "GET",
                "path": "/a%2Fb/c?q=1&r=x%20y",
                "host": f"{host}:8000",
                "authorization": "t",
                "proxy_authorization": None,
            }
    assert server.service_dns.counts["service"] == 4


async def test_ready_pods_take_turns_and_unready_ones_get_nothing(
    server: ApiServer, api: aiohttp.ClientSession, backend: Backend
) -> None:
    ns = await namespace(api)
    await ready_pod(api, ns, "echo-0", "127.0.2.1", await backend("one", "127.0.2.1"))
    await ready_pod(api, ns, "echo-1", "127.0.2.2", await backend("two", "127.0.2.2"))
    await ready_pod(api, ns, "echo-2", "127.0.2.3", await backend("three", "127.0.2.3"), ready=False)
    await service(api, ns)
    async with proxied(server) as client:
        seen = [(await client.get(f"http://echo.{ns}.svc:8000/")).json()["backend"] for _ in range(4)]
    assert sorted(seen) == ["one", "one", "two", "two"]


async def test_a_bare_name_resolves_in_the_namespace_of_the_calling_pod(
    server: ApiServer, api: aiohttp.ClientSession, backend: Backend
) -> None:
    ns = await namespace(api)
    await ready_pod(api, ns, "echo-0", "127.0.2.1", await backend("theirs", "127.0.2.1"))
    await service(api, ns)
    await ready_pod(api, "default", "echo-0", "127.0.2.2", await backend("default's", "127.0.2.2"))
    await service(api, "default")
    # a pod that binds its own address but sends no proxy credentials is known by that address
    await ready_pod(api, ns, "binder", "127.0.2.9", 1, app="client")

    async with proxied(server, f"{ns}:some-pod") as client:
        assert (await client.get("http://echo:8000/")).json()["backend"] == "theirs"
    async with proxied(server) as client:
        assert (await client.get("http://echo:8000/")).json()["backend"] == "default's"
    connector = aiohttp.TCPConnector(local_addr=("127.0.2.9", 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get("http://echo:8000/", proxy=server.service_proxy_url) as answer,
    ):
        assert (await answer.json())["backend"] == "theirs"


async def test_bodies_stream_both_ways_keeping_the_request_framing(
    server: ApiServer, api: aiohttp.ClientSession, backend: Backend
) -> None:
    ns = await namespace(api)
    port = await backend("one", "127.0.2.1")
    await ready_pod(api, ns, "echo-0", "127.0.2.1", port)
    await service(api, ns, target=port)  # targetPort as a number
    payload = bytes(range(256)) * 4096  # 1 MiB
    async with proxied(server) as client:
        sized = await client.post(f"http://echo.{ns}:8000/stream", content=payload)
        assert sized.content == payload
        assert (sized.headers["X-Request-Length"], sized.headers["X-Request-Chunked"]) == (
            str(len(payload)),
            "False",
        )

        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(payload), 100_000):
                yield payload[start : start + 100_000]

        chunked = await client.post(f"http://echo.{ns}:8000/stream", content=pieces())
        assert chunked.content == payload
        assert chunked.headers["X-Request-Chunked"] == "True"


async def test_refusals_say_what_is_wrong(
    server: ApiServer, api: aiohttp.ClientSession, backend: Backend
) -> None:
    ns = await namespace(api)
    await service(api, ns)
    async with proxied(server) as client:
        missing = await client.get(f"http://nope.{ns}.svc:8000/")
        assert missing.status_code == 502
        assert f'service "nope" not found in namespace "{ns}"' in missing.text
        unready = await client.get(f"http://echo.{ns}.svc:8000/")
        assert unready.status_code == 503
        assert f'no endpoints available for service "echo" in namespace "{ns}"' in unready.text
        wrong_port = await client.get(f"http://echo.{ns}.svc/")
        assert wrong_port.status_code == 502
        assert "has no port 80 (its ports: 8000)" in wrong_port.text
        for host in ("example.com", "10.1.2.3", "www.example.com"):
            outside = await client.get(f"http://{host}/")
            assert outside.status_code == 502
            assert f'"{host}" is not a Service name' in outside.text
            assert f"NO_PROXY=localhost,127.0.0.1,127.0.0.0/8,::1,{host}" in outside.text
        assert 'there is no namespace "com"' in (await client.get("http://example.com/")).text

    await ready_pod(api, ns, "gone", "127.0.2.1", await unused_port("127.0.2.1"))
    async with proxied(server) as client:
        unreachable = await client.get(f"http://echo.{ns}.svc:8000/")
    assert unreachable.status_code == 502
    assert "cannot reach 127.0.2.1:" in unreachable.text


async def test_connect_and_plain_requests_are_refused(server: ApiServer) -> None:
    for request, status, says in (
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", b"501", b"CONNECT"),
        (b"GET /x HTTP/1.1\r\nHost: somewhere\r\n\r\n", b"400", b"as an HTTP proxy"),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.service_dns.port)
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 5)  # the proxy closes the connection after refusing
        writer.close()
        assert answer.startswith(b"HTTP/1.1 " + status)
        assert says in answer


async def test_loopback_addresses_are_passed_on_unchanged(server: ApiServer, backend: Backend) -> None:
    port = await backend("pod", "127.0.2.1")
    async with proxied(server) as client:
        answer = await client.get(f"http://127.0.2.1:{port}/direct?x=1")
    assert answer.json()["path"] == "/direct?x=1"
    assert server.service_dns.counts["relayed"] == 1


async def test_python_clients_with_the_kubelets_environment(
    server: ApiServer, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the kubelet's HTTP_PROXY/NO_PROXY do to httpx and urllib: the API server's address (an exact
    NO_PROXY entry) is reached directly; pod addresses (only covered by 127.0.0.0/8, a CIDR neither client
    understands) go to the proxy, which passes them on."""
    monkeypatch.setenv("HTTP_PROXY", server.service_proxy_url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1,127.0.0.0/8,::1")
    local = await backend("host", "127.0.0.1")
    pod = await backend("pod", "127.0.2.1")
    counts = server.service_dns.counts
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{local}/")).json()["backend"] == "host"
        assert (await client.get(f"http://localhost:{local}/")).json()["backend"] == "host"
        assert counts["relayed"] == 0
        assert (await client.get(f"http://127.0.2.1:{pod}/")).json()["backend"] == "pod"
        assert counts["relayed"] == 1

    def fetch(url: str) -> str:
        # a fresh opener: urlopen() keeps the proxies of its first call for the rest of the process
        with urllib.request.build_opener().open(url, timeout=10) as answer:
            return str(json.load(answer)["backend"])

    assert await asyncio.to_thread(fetch, f"http://127.0.0.1:{local}/") == "host"
    assert counts["relayed"] == 1
    assert await asyncio.to_thread(fetch, f"http://127.0.2.1:{pod}/") == "pod"
    assert counts["relayed"] == 2


async def unused_port(address: str) -> int:
    """A port nothing listens on (bound and released at once)."""
    server = await asyncio.start_server(lambda r, w: None, address, 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port


async def test_the_api_servers_service_proxy_still_routes_by_name_and_number(
    server: ApiServer, api: aiohttp.ClientSession, backend: Backend
) -> None:
    ns = await namespace(api)
    await ready_pod(api, ns, "echo-0", "127.0.2.1", await backend("one", "127.0.2.1"))
    await service(api, ns)
    for port in ("web", "8000", ""):
        name = f"echo:{port}" if port else "echo"
        async with api.get(f"/api/v1/namespaces/{ns}/services/{name}/proxy/p?q=1") as answer:
            body = await answer.json()
        assert (body["backend"], body["path"], body["authorization"]) == ("one", "/p?q=1", None)
    async with api.get(f"/api/v1/namespaces/{ns}/services/echo:9/proxy/") as answer:
        assert answer.status == 503
