"""`http_get`: fetch a URL from an allowlist of hosts and ports, with the body cut at a size cap.

What may be reached is decided in egress.py: the URL's host and port against `allowedHosts` and
`allowedPorts` before each request (redirects included), and the address actually connected to against
private, loopback, link-local, multicast and reserved ranges unless `allowedNetworks` lists it
(http_connect.py, at connect time).
`timeoutSeconds` bounds the whole call, redirects included: a server trickling a byte a second cannot hold it
longer (httpx's own timeouts are per read).
"""

import asyncio
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from agent_runtime import tls
from agent_runtime.egress import HostEntry, IPNetwork, parse_host_entry, url_refusal
from agent_runtime.tool_settings import HttpGetSettings
from agent_runtime.tools.base import Tool, ToolArguments, ToolContext, ToolError, ToolResult

if TYPE_CHECKING:
    # Imported where it is used: importing httpx costs start-up time before /readyz that nothing needs.
    import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpGetArguments(ToolArguments):
    url: str = Field(description="The http:// or https:// URL to fetch.")


class HttpGetTool(Tool[HttpGetArguments]):
    name = "http_get"
    arguments = HttpGetArguments

    def __init__(self, settings: HttpGetSettings) -> None:
        self._settings = settings
        self._entries: list[HostEntry] = [parse_host_entry(entry) for entry in settings.allowed_hosts]
        self._networks: list[IPNetwork] = [ipaddress.ip_network(net) for net in settings.allowed_networks]
        self._client: httpx.AsyncClient | None = None
        self.description = (
            f"Fetch a URL with HTTP GET; returns at most {settings.max_bytes} bytes of the body. "
            f"Only these hosts are reachable: {', '.join(settings.allowed_hosts)}."
        )

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError(f"{url!r} is not an http(s) URL")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ToolError(f"{url!r} has a bad port") from None
        refusal = url_refusal(parts.hostname, port, self._entries, self._settings.allowed_ports)
        if refusal is not None:
            allowed = ", ".join(self._settings.allowed_hosts)
            raise ToolError(f"{refusal}; allowed hosts: {allowed}")

    def _http(self) -> "httpx.AsyncClient":
        # One client for the tool's life: making one per call (it loads the CA bundle) cost ~20 ms a call.
        if self._client is None:
            import httpx

            from agent_runtime.tools.http_connect import CheckedTransport

            transport = CheckedTransport(tls.client_context(), self._networks)
            # trust_env off: a proxy from HTTP(S)_PROXY would connect in our place, past the address check.
            self._client = httpx.AsyncClient(
                timeout=self._settings.timeout_seconds,
                follow_redirects=False,
                transport=transport,
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, args: HttpGetArguments, context: ToolContext) -> ToolResult:
        timeout = self._settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                return await self._fetch(args.url)
        except TimeoutError:
            raise ToolError(f"GET {args.url} took longer than {timeout:g}s (timeoutSeconds)") from None

    async def _fetch(self, url: str) -> ToolResult:
        import httpx

        client = self._http()
        # Redirects are followed by hand so every hop is checked against the allowlist.
        for _ in range(self._settings.max_redirects + 1):
            self._check(url)
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    body, truncated = await self._read_capped(response)
            except httpx.HTTPError as err:
                raise ToolError(f"GET {url} failed: {type(err).__name__}: {err}") from err
            text = body.decode(response.encoding or "utf-8", errors="replace")
            if truncated:
                text += f"\n[truncated at {self._settings.max_bytes} bytes]"
            if response.status_code >= 400:
                return ToolResult(content=f"HTTP {response.status_code}\n{text}", is_error=True)
            return ToolResult(content=text)
        raise ToolError(f"more than {self._settings.max_redirects} redirects")

    async def _read_capped(self, response: "httpx.Response") -> tuple[bytes, bool]:
        cap = self._settings.max_bytes
        chunks = bytearray()
        async for chunk in response.aiter_bytes():
            chunks.extend(chunk)
            if len(chunks) > cap:
                return bytes(chunks[:cap]), True
        return bytes(chunks), False
