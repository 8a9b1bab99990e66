"""A thin asyncio client for the Kubernetes API calls the operator makes itself (kopf does the watching).

Hand-written on aiohttp instead of using kubernetes_asyncio: the operator deals in plain manifest dicts (the
builders produce them, kopf hands them over), so the generated client's model classes would only add a
(de)serialisation step to every call, and aiohttp is already kopf's HTTP stack. The credentials come from
kopf's own login functions, so the operator authenticates one way for both.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp
import kopf
import yaml

from agent_supervisor.api import GROUP, VERSION

log = logging.getLogger(__name__)

FIELD_MANAGER: Final = "agent-supervisor"
JSON: Final = "application/json"
METADATA_ONLY: Final = f"{JSON};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,{JSON}"
"""Lists with only each item's metadata (falling back to whole objects where a server cannot)."""
REQUEST_TIMEOUT_SECONDS: Final = 30.0

Manifest = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource type as the API addresses it: `/api/v1/...` for the core group, `/apis/<group>/...` else."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if namespace is not None:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


PODS: Final = Resource("", "v1", "pods", "Pod")
CONFIG_MAPS: Final = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS: Final = Resource("", "v1", "secrets", "Secret")
SERVICES: Final = Resource("", "v1", "services", "Service")
EVENTS: Final = Resource("", "v1", "events", "Event")
SERVICE_ACCOUNTS: Final = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES: Final = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS: Final = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
LEASES: Final = Resource("coordination.k8s.io", "v1", "leases", "Lease")
AGENTS: Final = Resource(GROUP, VERSION, "agents", "Agent")
AGENT_SUPERVISORS: Final = Resource(GROUP, VERSION, "agentsupervisors", "AgentSupervisor")


class ApiError(Exception):
    """The API server refused a request; `status` is the HTTP code, `reason` the Status reason."""

    def __init__(self, verb: str, path: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{verb} {path}: {status} {reason}: {message}")
        self.verb = verb
        self.path = path
        self.status = status
        self.reason = reason
        self.message = message


class NotFoundError(ApiError):
    pass


class AlreadyExistsError(ApiError):
    pass


class ConflictError(ApiError):
    """A write lost a race: its resourceVersion precondition no longer holds."""


def _error_class(status: int, reason: str) -> type[ApiError]:
    if status == 404:
        return NotFoundError
    if status == 409:
        return AlreadyExistsError if reason == "AlreadyExists" else ConflictError
    return ApiError


ResponseObserver = Callable[[str, str, int], None]
"""Called with (verb, resource plural, HTTP status; 0 when no response came) for every request: metrics."""

Login = Callable[[], Awaitable[kopf.ConnectionInfo]]


async def login() -> kopf.ConnectionInfo:
    """The credentials kopf would find: the pod's service account, else the kubeconfig ($KUBECONFIG)."""
    settings = kopf.OperatorSettings()
    for method, source in (
        (kopf.login_with_service_account, "the service account"),
        (kopf.login_with_kubeconfig, "the kubeconfig (KUBECONFIG or ~/.kube/config)"),
    ):
        try:
            # These read files; keep the event loop free even at start-up.
            info = await asyncio.to_thread(method, settings=settings)
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as error:
            raise kopf.LoginError(f"cannot read {source}: {error}") from error
        if info is not None:
            return info
    raise kopf.LoginError(
        "no Kubernetes credentials: run in a pod with a service account, or set KUBECONFIG "
        "(or create ~/.kube/config)"
    )


class KubeClient:
    """get / list / create / merge-patch / apply / delete of manifests, with API errors as exceptions."""

    def __init__(self, login: Login = login, on_response: ResponseObserver | None = None) -> None:
        self._login = login
        self._on_response = on_response
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self.default_namespace: str | None = None

    async def __aenter__(self) -> KubeClient:
        await self._connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _connect(self) -> None:
        info = await self._login()
        self._server = info.server.rstrip("/")
        self.default_namespace = info.default_namespace
        # Building the SSL context may write client certificates to temporary files: off the loop.
        https = self._server.startswith("https:")
        ssl_context = await asyncio.to_thread(info.as_ssl_context) if https else True
        old, self._session = (
            self._session,
            aiohttp.ClientSession(
                headers=info.as_http_headers(),
                connector=aiohttp.TCPConnector(ssl=ssl_context, limit=64),
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            ),
        )
        if old is not None:
            await old.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- verbs ---------------------------------------------------------------------------------------------

    async def get(self, resource: Resource, namespace: str | None, name: str) -> Manifest:
        return await self._request("GET", resource.path(namespace, name), resource.plural)

    async def list_items(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        page_size: int = 500,
        metadata_only: bool = False,
    ) -> AsyncIterator[Manifest]:
        """Every object of a LIST, fetched in pages so that memory stays bounded at any scale."""
        query: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            query["labelSelector"] = label_selector
        accept = METADATA_ONLY if metadata_only else JSON
        while True:
            page = await self._request(
                "GET", resource.path(namespace), resource.plural, query=query, accept=accept
            )
            for item in page.get("items") or []:
                yield item
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = str(token)

    async def get_path(self, path: str) -> Manifest:
        """GET any API path, e.g. a discovery document."""
        return await self._request("GET", path, "discovery")

    async def create(self, resource: Resource, namespace: str | None, body: Mapping[str, Any]) -> Manifest:
        return await self._request("POST", resource.path(namespace), resource.plural, body=body)

    async def merge_patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> Manifest:
        """A JSON merge patch; with `resource_version` it only applies to that version (else Conflict)."""
        if resource_version is not None:
            metadata = {**patch.get("metadata", {}), "resourceVersion": resource_version}
            patch = {**patch, "metadata": metadata}
        return await self._request(
            "PATCH",
            resource.path(namespace, name, subresource),
            resource.plural,
            body=patch,
            content_type="application/merge-patch+json",
        )

    async def apply(self, resource: Resource, namespace: str | None, body: Mapping[str, Any]) -> Manifest:
        """Server-side apply as the operator's field manager: creates, or updates exactly the fields given."""
        name = str(body["metadata"]["name"])
        return await self._request(
            "PATCH",
            resource.path(namespace, name),
            resource.plural,
            body=body,
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    async def delete(
        self, resource: Resource, namespace: str | None, name: str, *, grace_seconds: int | None = None
    ) -> None:
        query = {} if grace_seconds is None else {"gracePeriodSeconds": str(grace_seconds)}
        await self._request("DELETE", resource.path(namespace, name), resource.plural, query=query)

    async def delete_collection(
        self,
        resource: Resource,
        namespace: str,
        *,
        label_selector: str,
        field_selector: str | None = None,
        grace_seconds: int | None = None,
    ) -> list[Manifest]:
        """Delete every object the selectors match, in one request; returns their metadata.

        A label selector is required: an empty one would delete the whole collection.
        """
        if not label_selector:
            raise ValueError("delete_collection needs a label selector: an empty one matches everything")
        query = {"labelSelector": label_selector}
        if field_selector:
            query["fieldSelector"] = field_selector
        if grace_seconds is not None:
            query["gracePeriodSeconds"] = str(grace_seconds)
        deleted = await self._request(
            "DELETE", resource.path(namespace), resource.plural, query=query, accept=METADATA_ONLY
        )
        return list(deleted.get("items") or [])

    # --- transport -----------------------------------------------------------------------------------------

    async def _request(
        self,
        verb: str,
        path: str,
        what: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Manifest:
        headers = {"Content-Type": content_type, "Accept": accept}
        try:
            status, payload = await self._send(await self._ready(), verb, path, body, query, headers)
            if status == 401:
                # Projected service account tokens rotate: log in again once before giving up.
                await self._connect()
                status, payload = await self._send(await self._ready(), verb, path, body, query, headers)
        except (aiohttp.ClientError, TimeoutError) as error:
            self._observe(verb, what, 0)
            raise ApiError(verb, path, 0, "ConnectionFailed", str(error) or type(error).__name__) from error
        self._observe(verb, what, status)
        log.debug("%s %s -> %d", verb, path, status)
        if status >= 400:
            reason = str(payload.get("reason") or "")
            message = str(payload.get("message") or payload)
            raise _error_class(status, reason)(verb, path, status, reason, message)
        return payload

    async def _ready(self) -> aiohttp.ClientSession:
        if self._session is None:
            await self._connect()
        if self._session is None:
            raise RuntimeError("the Kubernetes client could not open a session")
        return self._session

    async def _send(
        self,
        session: aiohttp.ClientSession,
        verb: str,
        path: str,
        body: Mapping[str, Any] | None,
        query: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Manifest]:
        url = self._server + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body)
        async with session.request(verb, url, data=data, headers=headers) as response:
            text = await response.text()
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {"message": text[:500]}
        return response.status, payload if isinstance(payload, dict) else {"message": str(payload)}

    def _observe(self, verb: str, what: str, status: int) -> None:
        if self._on_response is not None:
            self._on_response(verb, what, status)
