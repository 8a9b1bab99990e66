"""Where http_get may go (issue #16): hosts, wildcards, ports, the address actually connected to, and a total
deadline. Real sockets on loopback; name resolution is replaced only where a test needs a name to point at an
address."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime.egress import DEFAULT_PORTS, address_refusal, parse_host_entry, url_refusal
from agent_runtime.tool_settings import HttpGetSettings
from agent_runtime.tools import ToolContext
from agent_runtime.tools.base import ToolError
from agent_runtime.tools.http_get import HttpGetArguments, HttpGetTool

CONTEXT = ToolContext(agent="a", task_id="t", step=0, call_index=0)


def tool(**settings: Any) -> HttpGetTool:
    return HttpGetTool(HttpGetSettings.model_validate(settings))


async def fetch(http_get: HttpGetTool, url: str) -> str:
    try:
        result = await http_get.run(HttpGetArguments(url=url), CONTEXT)
    except ToolError as err:
        return f"error: {err}"
    finally:
        await http_get.aclose()
    return result.content


@pytest.fixture(scope="module")
def echo_host() -> Iterator[tuple[str, int]]:
    """A server answering with the Host header it got; /slow trickles 30 bytes, one every 0.2 s."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            slow = self.path == "/slow"
            body = b"." * 30 if slow else f"host={self.headers['Host']}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for index in range(len(body)) if slow else ():
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(0.2)  # the server's pace, not a wait of the test's
            if not slow:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Host names resolved as this dict says (the test's own DNS); any other name resolves as usual."""
    table: dict[str, str] = {}
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in table:
            return real(table[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return table


async def test_an_allowlisted_name_resolving_to_loopback_is_refused(
    echo_host: tuple[str, int], names: dict[str, str]
) -> None:
    host, port = echo_host
    names["intranet.example.com"] = host
    refused = await fetch(
        tool(allowedHosts=[f"intranet.example.com:{port}"]), f"http://intranet.example.com:{port}/"
    )
    assert refused.startswith(f"error: GET http://intranet.example.com:{port}/ failed: ConnectError: ")
    assert (
        "127.0.0.1 is a loopback address, not in allowedNetworks ('intranet.example.com' resolves to it)"
        in refused
    )


async def test_a_loopback_address_is_refused_unless_its_network_is_allowed(
    echo_host: tuple[str, int],
) -> None:
    host, port = echo_host
    refused = await fetch(tool(allowedHosts=[f"{host}:{port}"]), f"http://{host}:{port}/")
    assert "127.0.0.1 is a loopback address, not in allowedNetworks" in refused
    other_network = tool(allowedHosts=[f"{host}:{port}"], allowedNetworks=["10.0.0.0/8"])
    assert "loopback address" in await fetch(other_network, f"http://{host}:{port}/")
    allowed = tool(allowedHosts=[f"{host}:{port}"], allowedNetworks=["127.0.0.1/32"])
    assert await fetch(allowed, f"http://{host}:{port}/") == f"host={host}:{port}"


async def test_the_checked_address_is_connected_to_with_the_name_as_host(
    echo_host: tuple[str, int], names: dict[str, str]
) -> None:
    host, port = echo_host
    names["tools.internal"] = host
    http_get = tool(allowedHosts=[f"tools.internal:{port}"], allowedNetworks=["127.0.0.0/8"])
    assert await fetch(http_get, f"http://tools.internal:{port}/") == f"host=tools.internal:{port}"


async def test_ports_must_be_allowed(echo_host: tuple[str, int]) -> None:
    host, port = echo_host
    default_ports = tool(allowedHosts=[host], allowedNetworks=["127.0.0.0/8"])
    refused = await fetch(default_ports, f"http://{host}:{port}/")
    assert f"port {port} of host '127.0.0.1' is not allowed (allowedPorts: 80, 443)" in refused
    by_setting = tool(allowedHosts=[host], allowedPorts=[port], allowedNetworks=["127.0.0.0/8"])
    assert await fetch(by_setting, f"http://{host}:{port}/") == f"host={host}:{port}"


async def test_the_timeout_bounds_the_whole_call_not_each_read(echo_host: tuple[str, int]) -> None:
    host, port = echo_host
    trickled = tool(allowedHosts=[f"{host}:{port}"], allowedNetworks=["127.0.0.0/8"], timeoutSeconds=1)
    # Each byte comes well within a second; all 30 take six.
    assert await fetch(trickled, f"http://{host}:{port}/slow") == (
        f"error: GET http://{host}:{port}/slow took longer than 1s (timeoutSeconds)"
    )


def test_wildcards_match_names_only() -> None:
    entries = [parse_host_entry("*.example.com")]
    assert url_refusal("api.example.com", 443, entries, DEFAULT_PORTS) is None
    assert url_refusal("API.Example.com.", 443, entries, DEFAULT_PORTS) is None
    assert url_refusal("example.com", 443, entries, DEFAULT_PORTS) == "host 'example.com' is not allowed"
    assert url_refusal("evilexample.com", 443, entries, DEFAULT_PORTS) is not None
    assert url_refusal("example.com.evil.net", 443, [parse_host_entry("example.com")], DEFAULT_PORTS)
    for pattern in ("*.0.0.1", "*.1", "*.168.1.1:80"):
        with pytest.raises(ValueError, match="a wildcard matches host names only"):
            parse_host_entry(pattern)
    with pytest.raises(ValueError, match=r"allowedHosts\n.*'\*\.0\.1': a wildcard matches host names only"):
        HttpGetSettings.model_validate({"allowedHosts": ["*.0.1"]})
    address = [parse_host_entry("127.0.0.1")]
    assert url_refusal("127.0.0.1", 80, address, DEFAULT_PORTS) is None, "an address matches itself exactly"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "reserved"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),
        ("64:ff9b::a00:1", "private"),
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    parsed = ipaddress.ip_address(address)
    assert address_refusal(parsed, []) == f"{parsed} is a {kind} address, not in allowedNetworks"


def test_public_addresses_and_allowed_networks_pass() -> None:
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"):
        assert address_refusal(ipaddress.ip_address(public), []) is None
    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.2"), loopback) is None
    assert address_refusal(ipaddress.ip_address("::1"), loopback) is not None, "IPv6 loopback is not 127/8"


@given(st.ip_addresses(v=4))
def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert (address_refusal(mapped, []) is None) == (address_refusal(address, []) is None)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"allowedNetworks": ["10.0.0.1"]}, "'10.0.0.1' is not a CIDR network: write it as 10.0.0.1/32"),
        ({"allowedNetworks": ["10.0.0.1/8"]}, "has host bits set"),
        ({"allowedPorts": [0]}, "0 is not a port"),
        ({"allowedHosts": ["a.example:70000"]}, "must be a number from 1 to 65535"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(settings: dict[str, Any], message: str) -> None:
    field = next(iter(settings))
    with pytest.raises(ValueError, match=field) as raised:
        HttpGetSettings.model_validate({"allowedHosts": ["a.example"], **settings})
    assert message in str(raised.value)
