"""An agent's `mcpServers`: resolved to URLs, rendered into the runtime config, their header Secrets mapped
into the pod's environment.

A header's value is only ever in its Secret and the pod's environment (from a secretKeyRef): the runtime
config names the variable, never the value, so ConfigMaps, statuses and logs stay free of it.
"""

from __future__ import annotations

from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.translate import labels

HEADER_ENV_PREFIX: Final = "AGENT_MCP_"
"""Reserved on agent containers: the operator sets `AGENT_MCP_<SERVER>_<n>` from each header's Secret."""
DEFAULT_PATH: Final = "/mcp"


def header_env(server: str, index: int) -> str:
    return f"{HEADER_ENV_PREFIX}{server.upper().replace('-', '_')}_{index}"


def header_env_vars(template: api.AgentTemplate) -> list[dict[str, Any]]:
    """The pod's env entries for every header of every MCP server, each from its Secret key."""
    return [
        {
            "name": header_env(server.name, index),
            "valueFrom": {
                "secretKeyRef": {"name": header.secret_key_ref.name, "key": header.secret_key_ref.key}
            },
        }
        for server in template.mcp_servers or []
        for index, header in enumerate(server.headers_from or [])
    ]


def secret_references(prefix: str, template: api.AgentTemplate) -> list[tuple[str, str, str | None]]:
    """(field, Secret, key) of every header Secret, for the existence checks."""
    return [
        (
            f"{prefix}.mcpServers[{i}].headersFrom[{j}].secretKeyRef",
            header.secret_key_ref.name,
            header.secret_key_ref.key,
        )
        for i, server in enumerate(template.mcp_servers or [])
        for j, header in enumerate(server.headers_from or [])
    ]


def runtime_servers(template: api.AgentTemplate) -> list[dict[str, Any]]:
    """The runtime config's `mcpServers`. Raises ValueError (`field: problem`) for an unresolved child."""
    rendered = []
    for index, server in enumerate(template.mcp_servers or []):
        if server.url is None:
            raise ValueError(
                f"mcpServers[{index}].child: only an agent inside an AgentSupervisor can name a child "
                "server; give a url instead"
            )
        entry: dict[str, Any] = {
            "name": server.name,
            "url": server.url,
            "headers": [
                {"name": header.name, "valueEnv": header_env(server.name, j)}
                for j, header in enumerate(server.headers_from or [])
            ],
        }
        if server.transport is not None:
            entry["transport"] = server.transport
        if server.allowed_tools is not None:
            entry["allowedTools"] = list(server.allowed_tools)
        if server.timeout_seconds is not None:
            entry["timeoutSeconds"] = server.timeout_seconds
        if server.max_result_bytes is not None:
            entry["maxResultBytes"] = server.max_result_bytes
        rendered.append(entry)
    return rendered


# --- child: a sibling worker's Service ------------------------------------------------------------------


def _worker_port(worker: api.WorkerSpec, port: int | str | None) -> int | None:
    for candidate in worker.ports or []:
        if port is None or port in (candidate.name, candidate.container_port):
            return candidate.container_port
    return None


def child_problems(
    prefix: str, template: api.AgentTemplate, siblings: dict[str, api.ChildSpec] | None
) -> list[api.FieldIssue]:
    """`child:` must name a worker sibling with a matching port; a standalone Agent has no siblings."""
    problems = []
    for index, server in enumerate(template.mcp_servers or []):
        if server.child is None:
            continue
        here = f"{prefix}.mcpServers[{index}]"
        if siblings is None:
            problems.append(
                api.FieldIssue(
                    f"{here}.child",
                    "only an agent inside an AgentSupervisor can name a child server: give a url instead",
                )
            )
            continue
        sibling = siblings.get(server.child)
        if sibling is None or sibling.worker is None:
            what = "no child" if sibling is None else "a child that is not a worker"
            workers = ", ".join(sorted(n for n, c in siblings.items() if c.worker is not None)) or "none"
            problems.append(
                api.FieldIssue(
                    f"{here}.child",
                    f"{server.child!r} is {what} of this supervisor: name a worker child "
                    f"(workers: {workers})",
                )
            )
        elif _worker_port(sibling.worker, server.port) is None:
            ports = ", ".join(f"{p.name}/{p.container_port}" for p in sibling.worker.ports or []) or "none"
            field = "port" if server.port is not None else "child"
            problems.append(
                api.FieldIssue(
                    f"{here}.{field}",
                    f"worker {server.child!r} has no such port (its ports: {ports}): add one to the worker "
                    "or pick one of these",
                )
            )
    return problems


def resolve_children(sup: api.AgentSupervisor, spec: dict[str, Any]) -> dict[str, Any]:
    """A child Agent's spec (dumped), each `child:` server replaced by the URL of that worker's Service."""
    servers = spec.get("mcpServers")
    if not servers:
        return spec
    siblings = {child.name: child for child in sup.spec.children}
    sup_name, namespace = sup.metadata.name or "", sup.metadata.namespace or "default"
    resolved = []
    for server in servers:
        child = server.get("child")
        sibling = siblings.get(child) if child else None
        if child is None or sibling is None or sibling.worker is None:
            resolved.append(server)  # a semantic problem, reported by child_problems
            continue
        port = _worker_port(sibling.worker, server.get("port"))
        host = f"{labels.child_name(sup_name, child)}.{namespace}.svc"
        rest = {key: value for key, value in server.items() if key not in ("child", "port", "path")}
        resolved.append({**rest, "url": f"http://{host}:{port}{server.get('path') or DEFAULT_PATH}"})
    return {**spec, "mcpServers": resolved}
