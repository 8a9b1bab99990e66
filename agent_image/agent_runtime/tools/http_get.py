"""`http_get`: fetch a URL from an allowlist of hosts, with the body cut at a size cap."""

from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from agent_runtime import tls
from agent_runtime.tool_settings import HttpGetSettings
from agent_runtime.tools.base import Tool, ToolArguments, ToolContext, ToolError, ToolResult

if TYPE_CHECKING:
    # Imported where it is used: importing httpx costs start-up time before /readyz that nothing needs.
    import httpx


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Exact host names, or `*.example.com` patterns matching any subdomain (not the apex itself)."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


class HttpGetArguments(ToolArguments):
    url: str = Field(description="The http:// or https:// URL to fetch.")


class HttpGetTool(Tool[HttpGetArguments]):
    name = "http_get"
    arguments = HttpGetArguments

    def __init__(self, settings: HttpGetSettings) -> None:
        self._settings = settings
        self._client: httpx.AsyncClient | None = None
        self.description = (
            f"Fetch a URL with HTTP GET; returns at most {settings.max_bytes} bytes of the body. "
            f"Only these hosts are reachable: {', '.join(settings.allowed_hosts)}."
        )

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError(f"{url!r} is not an http(s) URL")
        if not host_allowed(parts.hostname, self._settings.allowed_hosts):
            allowed = ", ".join(self._settings.allowed_hosts)
            raise ToolError(f"host {parts.hostname!r} is not allowed; allowed hosts: {allowed}")

    def _http(self) -> "httpx.AsyncClient":
        # One client for the tool's life: making one per call (it loads the CA bundle) cost ~20 ms a call.
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=self._settings.timeout_seconds, follow_redirects=False, verify=tls.client_context()
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, args: HttpGetArguments, context: ToolContext) -> ToolResult:
        import httpx

        url = args.url
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
