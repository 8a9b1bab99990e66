"""Reaching peer agents by name: address resolution and message delivery over HTTP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from agent_runtime import tls, tracing
from agent_runtime.config import PeersConfig
from agent_runtime.kube import KubeAccess
from agent_runtime.messages import AgentMessage
from agent_runtime.tools.base import ToolError

if TYPE_CHECKING:
    # Imported where it is used: importing httpx costs start-up time before /readyz that nothing needs.
    import httpx

AGENT_TOKEN_HEADER: Final = "X-Agent-Token"
_DELIVERY_ATTEMPTS: Final = 3


class DeliveryError(ToolError):
    """A peer could not be reached or refused the message."""


class PeerClient:
    """Implements the tools' Messenger: casts, calls (waiting for the matching reply) and raw delivery."""

    def __init__(
        self,
        agent: str,
        namespace: str,
        peers: PeersConfig,
        message_token: str | None,
        kube: KubeAccess | None,
    ) -> None:
        self._agent = agent
        self._namespace = namespace
        self._peers = peers
        self._token = message_token
        self._kube = kube
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        # Made at the first delivery, not at start-up (loading the CA bundle would delay /readyz).
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=10.0, verify=tls.client_context())
        return self._client

    def address(self, name: str) -> str:
        if name in self._peers.addresses:
            return self._peers.addresses[name].rstrip("/")
        api = self._kube.api_url if self._kube else ""
        return self._peers.address_template.format(name=name, namespace=self._namespace, api=api)

    def _headers(self) -> dict[str, str]:
        token = self._token or ""
        if self._peers.via_api_server and self._kube is not None:
            # The API server consumes Authorization itself; the agent token travels in its own header.
            return {**self._kube.auth_headers(), AGENT_TOKEN_HEADER: token}
        return {"Authorization": f"Bearer {token}"}

    async def deliver(self, to: str, message: AgentMessage) -> None:
        import httpx

        url = f"{self.address(to)}/v1/messages"
        # The sender's current span (an ask_agent's tool call) becomes the parent of the peer's task.
        headers = {**self._headers(), **tracing.inject()}
        for attempt in range(1, _DELIVERY_ATTEMPTS + 1):
            try:
                response = await self._http.post(url, json=message.wire(), headers=headers)
            except httpx.TransportError as err:
                if attempt == _DELIVERY_ATTEMPTS:
                    raise DeliveryError(f"agent {to!r} unreachable at {url}: {type(err).__name__}") from err
                await asyncio.sleep(0.2 * attempt)
                continue
            if response.status_code in (200, 202):
                return
            if response.status_code == 429:
                # A peer paused on its token budget says why and until when: the model should know.
                raise DeliveryError(f"agent {to!r} refused the message (HTTP 429): {_detail(response)}")
            if response.status_code < 500 or attempt == _DELIVERY_ATTEMPTS:
                raise DeliveryError(f"agent {to!r} refused the message: HTTP {response.status_code}")
            await asyncio.sleep(0.2 * attempt)

    async def cast(self, to: str, content: str, message_id: str) -> None:
        await self.deliver(to, AgentMessage(id=message_id, sender=self._agent, content=content, kind="cast"))

    async def call(self, to: str, content: str, message_id: str, timeout_seconds: float) -> str:
        message = AgentMessage(
            id=message_id,
            sender=self._agent,
            content=content,
            kind="call",
            reply_to=self._agent,
            correlation_id=message_id,
        )
        waiter = self._waiting.setdefault(message.call_id, asyncio.get_running_loop().create_future())
        try:
            await self.deliver(to, message)
            return await asyncio.wait_for(asyncio.shield(waiter), timeout_seconds)
        except TimeoutError:
            raise ToolError(f"no reply from {to!r} within {timeout_seconds:g}s") from None
        finally:
            self._waiting.pop(message.call_id, None)

    def accept_reply(self, reply: AgentMessage) -> bool:
        """Hand a reply to the call waiting for it; False when nobody waits (late or unknown)."""
        waiter = self._waiting.get(reply.correlation_id or "")
        if waiter is None or waiter.done():
            return False
        waiter.set_result(reply.content)
        return True

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _detail(response: httpx.Response) -> str:
    """The `detail` of a refusal's JSON body (a peer runtime's own words), cut short; else a generic text."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) and detail else "too many requests; try again later"
    return text[:500]
