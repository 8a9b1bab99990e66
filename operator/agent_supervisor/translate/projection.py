"""From the API resources to the supervision core's input, and the checks the CRD schema cannot express.

`parse_agent`/`parse_supervisor` turn a raw object into the API model (schema problems become FieldIssues);
`semantic_problems` adds what needs knowledge outside one field: the runtime's tool registry, Kubernetes name
limits of the objects the operator will create, and (when the caller knows them) the Secrets that exist.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from pydantic import ValidationError

from agent_runtime.config import ToolSpec as RuntimeToolSpec
from agent_runtime.tool_settings import TOOL_SETTINGS
from agent_supervisor import api, supervision
from agent_supervisor.api.base import DNS_LABEL_PATTERN
from agent_supervisor.translate import labels, mcp_servers, members
from agent_supervisor.translate.runtime_config import MODEL_API_KEY_ENV, RenderError, tool_settings

"""A problem with a resource: the field it is in (e.g. `spec.children[1].name`) and what to do about it."""

TEMPLATE_HASH_LENGTH: Final = 10
COLD_FIELDS: Final = ("image", "resources", "env", "service_account_name", "node_selector", "tolerations")
"""Template fields whose change needs a new pod; every other field is applied to the running agent."""

RESERVED_ENV: Final = frozenset(
    {
        "AGENT_CONFIG",
        "AGENT_HOST",
        "AGENT_PORT",
        "AGENT_MESSAGE_TOKEN",
        "AGENT_KUBE_API_URL",
        "AGENT_TERMINATION_MESSAGE_PATH",
        MODEL_API_KEY_ENV,
        "POD_NAME",
        "POD_NAMESPACE",
        "POD_UID",
        "POD_IP",
    }
)
"""Environment variables the operator sets on every agent container; users may not override them."""
WORKER_RESERVED_ENV: Final = frozenset({"POD_NAME", "POD_NAMESPACE", "POD_IP"})
"""Environment variables the operator sets on every worker container (worker_pod.DOWNWARD_ENV)."""

TEST_TOOLS: Final = frozenset({"crash"})
"""Tools only for tests and demos (crash exits the agent on the model's say-so): refused unless the operator
runs with --allow-test-tools. The CRD cannot know the operator's flags, so this is the operator's check."""

_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_PARSED_KEYS: Final = ("apiVersion", "kind", "metadata", "spec")


class InvalidResourceError(ValueError):
    """A resource that must not be acted on; `problems` name each field and the fix."""

    def __init__(self, problems: list[api.FieldIssue]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def parse_agent(body: Mapping[str, Any]) -> api.Agent:
    """The Agent in a raw object (its status is not parsed). Raises InvalidResourceError."""
    try:
        return api.Agent.model_validate(_without_status(body))
    except ValidationError as err:
        raise InvalidResourceError(api.field_issues(err)) from None


def parse_supervisor(body: Mapping[str, Any]) -> api.AgentSupervisor:
    """The AgentSupervisor in a raw object (its status is not parsed). Raises InvalidResourceError."""
    try:
        return api.AgentSupervisor.model_validate(_without_status(body))
    except ValidationError as err:
        raise InvalidResourceError(api.field_issues(err)) from None


def _without_status(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in _PARSED_KEYS if key in body}


# --- Projection onto the core ------------------------------------------------------------------------------


def cold_template_hash(template: api.AgentTemplate) -> str:
    """A short hash of the cold fields only: it changes exactly when the agent needs a new pod."""
    cold = template.model_dump(mode="json", by_alias=True, include=set(COLD_FIELDS), exclude_none=True)
    headers = mcp_servers.header_env_vars(template)
    if headers:  # MCP header Secrets are pod env; the rest of mcpServers is hot (left out: old hashes hold)
        cold["mcpHeaders"] = headers
    if template.service_account_name is None:
        # Pods of operators before issue 16 ran as `default`; this marker moves each such agent onto its own
        # ServiceAccount by a replacement (not counted as a restart) instead of a checkpoint write refused.
        cold["serviceAccount"] = "per-agent"
    return _hash(cold)


def worker_hash(worker: api.WorkerSpec) -> str:
    """A short hash of a worker's whole spec: every field of it is a pod field (all cold)."""
    return _hash(worker.model_dump(mode="json", by_alias=True, exclude_none=True))


def _hash(cold: dict[str, Any]) -> str:
    canonical = json.dumps(cold, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:TEMPLATE_HASH_LENGTH]


def shutdown_policy(policy: api.ShutdownPolicy | None) -> supervision.ShutdownPolicy:
    """The core's policy for an API one; None (no time limit) is OTP's infinity."""
    if policy is None:
        return supervision.ShutdownPolicy.infinity()
    if policy.brutal_kill:
        return supervision.ShutdownPolicy.brutal_kill()
    assert policy.grace_seconds is not None  # the API model requires exactly one of the two
    return supervision.ShutdownPolicy.timeout(policy.grace_seconds)


def backoff(restart_backoff: api.RestartBackoff | None) -> supervision.Backoff | None:
    if restart_backoff is None:
        return None
    return supervision.Backoff(
        initial_seconds=restart_backoff.initial_seconds, max_seconds=restart_backoff.max_seconds
    )


def supervisor_spec(sup: api.AgentSupervisor) -> supervision.SupervisorSpec:
    """The core's view of an AgentSupervisor: its flags and its children in start order, each pool member an
    agent child of its own (members.py), each worker a WORKER child."""
    spec = sup.spec
    return supervision.SupervisorSpec(
        strategy=supervision.Strategy(spec.strategy.value),
        max_restarts=spec.max_restarts,
        period_seconds=spec.period_seconds,
        auto_shutdown=supervision.AutoShutdown(spec.auto_shutdown.value),
        backoff=backoff(spec.restart_backoff),
        children=tuple(_child_specs(spec.children)),
    )


def _child_specs(children: list[api.ChildSpec]) -> Iterable[supervision.ChildSpec]:
    hashes: dict[str, str] = {}
    for child in members.members_of(children):
        template = child.template
        if template is not None:
            # Every member of a pool shares its entry's template: hash it once.
            template_hash = hashes.get(child.entry.name) or cold_template_hash(template)
            hashes[child.entry.name] = template_hash
            yield _child_spec(child.name, child.entry, supervision.ChildKind.AGENT, template_hash)
        elif child.worker is not None:
            worker = worker_hash(child.worker)
            yield _child_spec(child.name, child.entry, supervision.ChildKind.WORKER, worker)
        else:
            # A nested supervisor applies its own template edits in place; only a change of kind replaces it.
            yield _child_spec(child.name, child.entry, supervision.ChildKind.SUPERVISOR, "")


def _child_spec(
    name: str, child: api.ChildSpec, kind: supervision.ChildKind, template_hash: str
) -> supervision.ChildSpec:
    return supervision.ChildSpec(
        name=name,
        kind=kind,
        restart=supervision.RestartType(child.effective_restart.value),
        significant=child.significant,
        shutdown=shutdown_policy(child.effective_shutdown),
        template_hash=template_hash,
    )


def standalone_spec(agent: api.Agent) -> supervision.SupervisorSpec:
    """A standalone Agent: an implicit one_for_one supervisor of one child named like the Agent."""
    if not agent.metadata.name:
        raise InvalidResourceError([api.FieldIssue("metadata.name", "the Agent has no name")])
    spec = agent.spec
    return supervision.SupervisorSpec.standalone(
        agent.metadata.name,
        restart=supervision.RestartType(spec.effective_restart.value),
        max_restarts=spec.max_restarts,
        period_seconds=spec.period_seconds,
        backoff=backoff(spec.restart_backoff),
        shutdown=shutdown_policy(spec.effective_shutdown),
        template_hash=cold_template_hash(spec),
    )


# --- Semantic checks ---------------------------------------------------------------------------------------

SecretKeys = Mapping[str, Collection[str]]
"""Secrets known to exist in the namespace: name -> the keys of its data."""


def semantic_problems(
    obj: api.Agent | api.AgentSupervisor, secrets: SecretKeys | None = None, *, allow_test_tools: bool = False
) -> list[api.FieldIssue]:
    """What the CRD schema and its CEL rules cannot check; Secret references too when `secrets` is given."""
    name = obj.metadata.name or ""
    problems = _name_problems("metadata.name", name)
    if isinstance(obj, api.Agent):
        problems += _template_problems("spec", obj.spec, secrets)
    else:
        problems += _supervisor_problems("spec", name, obj.spec, secrets)
    if not allow_test_tools:
        problems += _test_tool_problems(obj)
    return problems


def _test_tool_problems(obj: api.Agent | api.AgentSupervisor) -> list[api.FieldIssue]:
    return [
        api.FieldIssue(
            f"{prefix}.tools[{index}].name",
            f"{tool.name!r} is a test-only tool: it is accepted only when the operator runs with "
            "--allow-test-tools",
        )
        for prefix, template in _prefixed_templates("spec", obj)
        for index, tool in enumerate(template.tools or [])
        if tool.name in TEST_TOOLS
    ]


def _prefixed_templates(
    prefix: str, obj: api.Agent | api.AgentSupervisor | api.SupervisorSpec
) -> Iterable[tuple[str, api.AgentTemplate]]:
    if isinstance(obj, api.Agent):
        yield prefix, obj.spec
        return
    spec = obj.spec if isinstance(obj, api.AgentSupervisor) else obj
    for index, child in enumerate(spec.children):
        here = f"{prefix}.children[{index}]"
        if child.agent is not None:
            yield f"{here}.agent", child.agent
        elif child.pool is not None:
            yield f"{here}.pool.template", child.pool.template
        elif child.supervisor is not None:
            yield from _prefixed_templates(f"{here}.supervisor", child.supervisor)


def _name_problems(field: str, name: str) -> list[api.FieldIssue]:
    if len(name) > labels.MAX_NAME:
        return [
            api.FieldIssue(
                field,
                f"the name {name!r} has {len(name)} characters, but it names a Service and labels, which "
                f"allow {labels.MAX_NAME}: shorten it",
            )
        ]
    if not _DNS_LABEL.match(name):
        return [
            api.FieldIssue(
                field,
                f"the name {name!r} must be a DNS-1035 label (lower-case letters, digits and '-', starting "
                "with a letter) because it names a Service: rename the resource",
            )
        ]
    return []


def _supervisor_problems(
    prefix: str, name: str, spec: api.SupervisorSpec, secrets: SecretKeys | None
) -> list[api.FieldIssue]:
    problems: list[api.FieldIssue] = []
    for index, child in enumerate(spec.children):
        here = f"{prefix}.children[{index}]"
        longest = max(child.member_names, key=len, default=child.name)
        resource = labels.child_name(name, longest)
        if len(resource) > labels.MAX_NAME:
            what = "the child's resource" if child.pool is None else "the resource of its last member"
            problems.append(
                api.FieldIssue(
                    f"{here}.name",
                    f"{what} is named {resource!r} ({len(resource)} characters), over the limit of "
                    f"{labels.MAX_NAME}: shorten the supervisor's or the child's name",
                )
            )
            continue  # names below it are longer still; one message per branch is enough
        siblings = {sibling.name: sibling for sibling in spec.children}
        if child.agent is not None:
            problems += _template_problems(f"{here}.agent", child.agent, secrets, siblings)
        elif child.pool is not None:
            problems += _template_problems(f"{here}.pool.template", child.pool.template, secrets, siblings)
        elif child.worker is not None:
            problems += _worker_problems(f"{here}.worker", child.worker, secrets)
        elif child.supervisor is not None:
            problems += _supervisor_problems(f"{here}.supervisor", resource, child.supervisor, secrets)
    return problems


def _worker_problems(prefix: str, worker: api.WorkerSpec, secrets: SecretKeys | None) -> list[api.FieldIssue]:
    problems = [
        api.FieldIssue(
            f"{prefix}.env[{index}].name",
            f"{var.name} is set by the operator on every worker container (from the downward API): use "
            "another name",
        )
        for index, var in enumerate(worker.env or [])
        if var.name in WORKER_RESERVED_ENV
    ]
    if secrets is not None:
        problems += _missing_secrets(_worker_references(prefix, worker), secrets)
    return problems


def _worker_references(prefix: str, worker: api.WorkerSpec) -> list[tuple[str, str, str | None]]:
    """(field, Secret, key or None for the whole Secret) of every Secret the worker reads."""
    references: list[tuple[str, str, str | None]] = []
    for index, var in enumerate(worker.env or []):
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            references.append((f"{prefix}.env[{index}].valueFrom.secretKeyRef", ref.name, ref.key))
    for index, source in enumerate(worker.env_from or []):
        if source.secret_ref is not None:
            references.append((f"{prefix}.envFrom[{index}].secretRef", source.secret_ref.name, None))
    return references


def _template_problems(
    prefix: str,
    template: api.AgentTemplate,
    secrets: SecretKeys | None,
    siblings: dict[str, api.ChildSpec] | None = None,
) -> list[api.FieldIssue]:
    problems = [
        *_tool_problems(prefix, template),
        *_env_problems(prefix, template),
        *mcp_servers.child_problems(prefix, template, siblings),
    ]
    if secrets is not None:
        problems += _secret_problems(prefix, template, secrets)
    return problems


def _tool_problems(prefix: str, template: api.AgentTemplate) -> list[api.FieldIssue]:
    problems: list[api.FieldIssue] = []
    for index, tool in enumerate(template.tools or []):
        here = f"{prefix}.tools[{index}]"
        if tool.name not in TOOL_SETTINGS:
            known = ", ".join(sorted(TOOL_SETTINGS))
            problems.append(
                api.FieldIssue(f"{here}.name", f"unknown tool {tool.name!r}; known tools: {known}")
            )
            continue
        try:
            RuntimeToolSpec.model_validate({"name": tool.name, "settings": tool_settings(tool)})
        except RenderError as err:
            field, _, message = str(err).partition(": ")
            problems.append(api.FieldIssue(f"{here}.{field}", message))
        except ValidationError as err:
            message = "; ".join(detail["msg"].removeprefix("Value error, ") for detail in err.errors())
            problems.append(api.FieldIssue(here, message))
    return problems


def _env_problems(prefix: str, template: api.AgentTemplate) -> list[api.FieldIssue]:
    problems = [
        api.FieldIssue(
            f"{prefix}.env[{index}].name",
            f"{var.name} is set by the operator on every agent container: use another name",
        )
        for index, var in enumerate(template.env or [])
        if var.name in RESERVED_ENV
    ] + [
        api.FieldIssue(
            f"{prefix}.env[{index}].name",
            f"names starting {mcp_servers.HEADER_ENV_PREFIX} carry MCP server headers: use another name",
        )
        for index, var in enumerate(template.env or [])
        if var.name.startswith(mcp_servers.HEADER_ENV_PREFIX)
    ]
    # A program's Secret-backed variable is set on the agent's container under its own name (agent_pod.py).
    taken = RESERVED_ENV | {var.name for var in template.env or []}
    for index, tool in enumerate(template.tools or []):
        for position, var in enumerate(tool.env or []):
            if var.secret_key_ref is not None and var.name in taken:
                problems.append(
                    api.FieldIssue(
                        f"{prefix}.tools[{index}].env[{position}].name",
                        f"{var.name} from a Secret is set on the agent's container under this name, which is "
                        "taken there already: use another name",
                    )
                )
            taken = taken | {var.name}
    return problems


def _secret_problems(prefix: str, template: api.AgentTemplate, secrets: SecretKeys) -> list[api.FieldIssue]:
    references: list[tuple[str, str, str | None]] = []
    if template.model.api_key_secret_ref is not None:
        ref = template.model.api_key_secret_ref
        references.append((f"{prefix}.model.apiKeySecretRef", ref.name, ref.key))
    for index, var in enumerate(template.env or []):
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            ref_ = var.value_from.secret_key_ref
            references.append((f"{prefix}.env[{index}].valueFrom.secretKeyRef", ref_.name, ref_.key))
    references += mcp_servers.secret_references(prefix, template)
    for index, tool in enumerate(template.tools or []):
        for position, program_var in enumerate(tool.env or []):
            if (secret_ref := program_var.secret_key_ref) is not None:
                field = f"{prefix}.tools[{index}].env[{position}].secretKeyRef"
                references.append((field, secret_ref.name, secret_ref.key))
    return _missing_secrets(references, secrets)


def _missing_secrets(
    references: Iterable[tuple[str, str, str | None]], secrets: SecretKeys
) -> list[api.FieldIssue]:
    problems = []
    for field, secret, key in references:
        if secret not in secrets:
            problems.append(
                api.FieldIssue(
                    f"{field}.name", f"Secret {secret!r} does not exist: create it or fix the name"
                )
            )
        elif key is not None and key not in secrets[secret]:
            problems.append(
                api.FieldIssue(f"{field}.key", f"Secret {secret!r} has no key {key!r}: add it or fix the key")
            )
    return problems


def referenced_secrets(resource: api.Agent | api.AgentSupervisor) -> set[str]:
    """Names of the Secrets the resource's agents and workers read (model API keys, env and envFrom)."""
    found = {secret for template in _templates(resource) for secret in _template_secrets(template)}
    for worker in _workers(resource):
        found |= {secret for _, secret, _ in _worker_references("", worker)}
    return found


def _templates(resource: api.Agent | api.AgentSupervisor) -> Iterable[api.AgentTemplate]:
    if isinstance(resource, api.Agent):
        yield resource.spec
        return
    for child in _entries(resource.spec):
        if child.template is not None:
            yield child.template


def _workers(resource: api.Agent | api.AgentSupervisor) -> Iterable[api.WorkerSpec]:
    if isinstance(resource, api.AgentSupervisor):
        for child in _entries(resource.spec):
            if child.worker is not None:
                yield child.worker


def _entries(spec: api.SupervisorSpec) -> Iterable[api.ChildSpec]:
    """Every child entry of the tree, nested supervisors' included."""
    pending = list(spec.children)
    while pending:
        child = pending.pop()
        yield child
        if child.supervisor is not None:
            pending.extend(child.supervisor.children)


def _template_secrets(template: api.AgentTemplate) -> Iterable[str]:
    if template.model.api_key_secret_ref is not None:
        yield template.model.api_key_secret_ref.name
    for var in template.env or []:
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            yield var.value_from.secret_key_ref.name
    for _, secret, _ in mcp_servers.secret_references("", template):
        yield secret
    for tool in template.tools or []:
        for program_var in tool.env or []:
            if program_var.secret_key_ref is not None:
                yield program_var.secret_key_ref.name
