"""`http_get`'s HTTP transport: it resolves a host once, checks the addresses, and connects to a checked one.

httpx resolves and connects inside its network backend, out of a caller's sight; checking a name's addresses
beforehand leaves a gap (the DNS answer may change before the connect: rebinding). So the check sits in the
backend itself: `connect_tcp` gets the URL's host name, resolves it, refuses what egress.address_refusal
refuses, and opens the socket to one of the addresses it checked. TLS is started afterwards on that socket by
httpcore with the host name as SNI and for certificate verification, and the Host header is the URL's: the
server sees a normal request for the name.

Imported when the tool first runs: importing httpx costs start-up time before /readyz that nothing needs.
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

from agent_runtime.egress import IPAddress, IPNetwork, address_refusal


class AddressRefusedError(httpcore.ConnectError):
    """Every address of the host is one http_get may not connect to (httpx reports it as a ConnectError)."""


class CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allowed_networks: Sequence[IPNetwork]) -> None:
        self._allowed = list(allowed_networks)
        self._inner = httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {err.strerror}") from err
        addresses: list[IPAddress] = []
        for _, _, _, _, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]))
            if address not in addresses:
                addresses.append(address)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        refusals: list[str] = []
        failure: httpcore.ConnectError | None = None
        for address in await self._resolve(host, port):
            refusal = address_refusal(address, self._allowed)
            if refusal is not None:
                refusals.append(refusal)
                continue
            try:
                # The address just checked, never the name again: no second resolution to be tricked by.
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = httpcore.ConnectError(f"{address}: {err}")
        if failure is not None:
            raise failure
        via = "" if _is_address(host) else f" ({host!r} resolves to it)"
        raise AddressRefusedError(f"{'; '.join(refusals)}{via}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("http_get connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its pool on CheckedBackend: httpx takes no network backend, httpcore's pool does.

    The pool replaces the one httpx built (`_pool`, what every httpx version since 0.18 forwards requests
    to); tests/runtime/test_tools.py fails if that stops being so, as a loopback URL would then get through.
    """

    def __init__(self, ssl_context: ssl.SSLContext, allowed_networks: Sequence[IPNetwork]) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=CheckedBackend(allowed_networks),
        )
