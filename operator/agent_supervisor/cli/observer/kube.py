"""The Observer's reads from the API server: lists, watches, a pod's log and an agent's runtime summary.

kubernetes_asyncio loads the kubeconfig the kubectl way (contexts, exec plugins, token refresh) or the pod's
service account, and signs each request; the paths are built here and the answers kept as plain dicts,
the bodies tree_model and view read. Every call is a GET: the Observer's RBAC grants nothing else.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from agent_supervisor.api import GROUP, VERSION
from agent_supervisor.cli import kube_contexts
from agent_supervisor.translate import labels

NEEDS_CLIENT: Final = (
    "the observer needs kubernetes_asyncio and aiohttp: pip install 'agent-supervisor[observer]' "
    "(the operator extra has them too)"
)
AGENT_PORT_NAME: Final = "http"
"""The port name of an Agent's Service (translate/agent_pod.py PORT_NAME)."""
SUMMARY_PATH: Final = "v1/summary"
"""The runtime's token-free summary (agent_runtime/api.py): counters and revisions, no task text."""
REQUEST_TIMEOUT_SECONDS: Final = 10.0
WATCH_SECONDS: Final = 290
"""How long one watch request lasts before it is renewed from the last version seen."""


class ObserverError(Exception):
    """Something the user can fix: the message says what."""


class GoneError(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass(frozen=True, slots=True)
class Kind:
    """A watched resource type."""

    name: str
    group_path: str
    plural: str
    selector: str | None = None

    def path(self, namespace: str | None) -> str:
        where = "" if namespace is None else f"/namespaces/{quote(namespace, safe='')}"
        return f"{self.group_path}{where}/{self.plural}"


SUPERVISORS: Final = Kind("AgentSupervisor", f"/apis/{GROUP}/{VERSION}", "agentsupervisors")
AGENTS: Final = Kind("Agent", f"/apis/{GROUP}/{VERSION}", "agents")
EVENTS: Final = Kind("Event", "/api/v1", "events")
# Only the pods the operator made: agents' and workers' incarnations.
PODS: Final = Kind("Pod", "/api/v1", "pods", labels.MANAGED_SELECTOR)
KINDS: Final = (SUPERVISORS, AGENTS, EVENTS, PODS)


async def connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """An ApiClient for the kubeconfig's context (or the pod's service account inside a cluster), and the
    namespace to use when -n is not given: the context's, else default."""
    try:
        from kubernetes_asyncio import client, config
    except ImportError as err:
        raise ObserverError(NEEDS_CLIENT) from err
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
        namespace = kube_contexts.context_namespace(contexts, current, context)
        api = await config.new_client_from_config(config_file=kubeconfig, context=context)
    except kube_contexts.ContextError as err:
        raise ObserverError(str(err)) from err
    except config.ConfigException as err:
        if (unusable := kube_contexts.unusable_kubeconfig(kubeconfig, context, err)) is not None:
            raise ObserverError(str(unusable)) from err
        try:
            config.load_incluster_config()
        except config.ConfigException as in_pod:
            message = f"no kubeconfig, and no service account to use in this pod: {in_pod}"
            raise ObserverError(message) from in_pod
        api = client.ApiClient()
        namespace = kube_contexts.in_cluster_namespace()
    return api, namespace


async def _get(api: Any, path: str, query: Mapping[str, str], limit: Any) -> Any:
    """The raw aiohttp response of a signed GET (the caller reads and releases it)."""
    return await api.call_api(
        path,
        "GET",
        query_params=list(query.items()),
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=limit,
    )


async def _error(response: Any, what: str) -> ObserverError:
    text = (await response.text())[:300]
    try:
        message = json.loads(text).get("message") or text
    except (ValueError, AttributeError):
        message = text
    if response.status in (401, 403):
        return ObserverError(f"not allowed to {what} ({response.status}): {message}; check the RBAC")
    if response.status == 404:
        return ObserverError(f"{what}: not found ({message})")
    return ObserverError(f"{what} failed: {response.status} {message}")


async def get_json(api: Any, path: str, query: Mapping[str, str], what: str) -> dict[str, Any]:
    response = await _get(api, path, query, REQUEST_TIMEOUT_SECONDS)
    try:
        if response.status != 200:
            raise await _error(response, what)
        body = await response.json(content_type=None)
        return body if isinstance(body, dict) else {}
    finally:
        response.release()


async def list_items(api: Any, kind: Kind, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
    """Every object of `kind`, and the list's resourceVersion to watch from."""
    query = {} if kind.selector is None else {"labelSelector": kind.selector}
    listing = await get_json(api, kind.path(namespace), query, f"list {kind.plural}")
    version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
    return [item for item in listing.get("items") or [] if isinstance(item, dict)], version


async def watch(
    api: Any, kind: Kind, namespace: str | None, version: str
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(type, object) for each change after `version` until the server ends the watch. Raises GoneError when
    the version is too old, ObserverError on an error answer."""
    query = {
        "watch": "true",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(WATCH_SECONDS),
    }
    if kind.selector is not None:
        query["labelSelector"] = kind.selector
    from aiohttp import ClientTimeout

    response = await _get(api, kind.path(namespace), query, ClientTimeout(sock_connect=10, sock_read=None))
    try:
        if response.status == 410:
            raise GoneError
        if response.status != 200:
            raise await _error(response, f"watch {kind.plural}")
        async for line in response.content:
            if not line.strip():
                continue
            change = json.loads(line)
            kind_of_change, obj = change.get("type"), change.get("object")
            if kind_of_change == "ERROR":
                if isinstance(obj, dict) and obj.get("code") == 410:
                    raise GoneError
                raise ObserverError(f"watch {kind.plural}: {obj}")
            if kind_of_change in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK") and isinstance(obj, dict):
                yield kind_of_change, obj
    finally:
        response.release()


async def log_tail(api: Any, namespace: str, pod: str, container: str | None, lines: int) -> str:
    """The last `lines` lines of a pod's log (of its only incarnation: pods run with restartPolicy Never)."""
    query = {"tailLines": str(lines)}
    if container:
        query["container"] = container
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
    response = await _get(api, path, query, REQUEST_TIMEOUT_SECONDS)
    try:
        if response.status != 200:
            raise await _error(response, f"read the log of pod {pod}")
        return str(await response.text(errors="replace"))
    finally:
        response.release()


async def runtime_summary(api: Any, namespace: str, agent: str) -> dict[str, Any]:
    """The agent runtime's token-free summary, through the API server's service proxy to the Agent's
    Service: the Observer never holds the messaging token, so it cannot read /v1/status."""
    service = f"{quote(agent, safe='')}:{AGENT_PORT_NAME}"
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/services/{service}/proxy/{SUMMARY_PATH}"
    return await get_json(api, path, {}, f"read the runtime summary of agent {agent}")
