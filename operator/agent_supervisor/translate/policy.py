"""The operator's admission policy (docs/operations.md, "Trust model"): which model endpoints, images,
ServiceAccounts and Secrets the Agents and AgentSupervisors it serves may use.

Whoever may create an Agent may otherwise send its model's API key to any endpoint, read any Secret of the
namespace into a pod, and run any image as any ServiceAccount. The operator's flags narrow that; each empty
rule allows everything, so an operator without flags behaves as before. Pure functions of the resource, the
policy and the labels of the Secrets it references.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final
from urllib.parse import SplitResult, urlsplit

from agent_supervisor import api
from agent_supervisor.translate import mcp_servers

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class Rule(StrEnum):
    """The rule a refusal breaks: the reason of condition PolicyAllowed=False."""

    MODEL_ENDPOINT = "ModelEndpointNotAllowed"
    IMAGE = "ImageNotAllowed"
    SERVICE_ACCOUNT = "ServiceAccountNotAllowed"
    SECRET = "SecretNotAllowed"


FLAGS: Final = {
    Rule.MODEL_ENDPOINT: "--allowed-model-endpoint",
    Rule.IMAGE: "--allowed-image",
    Rule.SERVICE_ACCOUNT: "--allowed-service-account",
    Rule.SECRET: "--secret-label",
}
"""The operator flag (and chart value under `policy`) that sets each rule, named in refusal messages."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What the operator lets resources use. An empty rule allows anything."""

    model_endpoints: tuple[str, ...] = ()
    """URL prefixes a `model.endpoint` must start with: same scheme, host and port, and a path under the
    prefix's path at a `/` boundary (so `https://api.example.com/v1` allows `.../v1/chat` but not
    `https://api.example.com.evil.net/v1` or `https://api.example.com/v10`)."""
    images: tuple[str, ...] = ()
    """Shell-style patterns (fnmatch) a spec's `image` and a worker's image must match. An agent that names no
    image runs the operator's own default image, which is always allowed."""
    service_accounts: tuple[str, ...] = ()
    """Patterns a `serviceAccountName` must match. An agent that names none runs as the account the operator
    makes for it alone, which is always allowed."""
    secret_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels every Secret a spec references must carry (all of them)."""

    @property
    def restricts(self) -> bool:
        return bool(self.model_endpoints or self.images or self.service_accounts or self.secret_labels)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One field the policy refuses: the field's path, the rule it breaks and what would be allowed."""

    field: str
    rule: Rule
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class PolicyRefusedError(Exception):
    """The resource uses something the operator's policy does not allow; nothing is created for it."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__("; ".join(str(refusal) for refusal in refusals))
        self.refusals = refusals


# --- The rules -------------------------------------------------------------------------------------------


def _parts(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of an http(s) URL; None for anything else (which no prefix allows)."""
    try:
        split: SplitResult = urlsplit(url.strip())
        port = split.port
    except ValueError:
        return None
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not split.hostname:
        return None
    return scheme, split.hostname.lower(), port or _DEFAULT_PORTS[scheme], split.path


def parse_endpoint_prefix(prefix: str) -> str:
    """A `--allowed-model-endpoint` value, checked. Raises ValueError saying what is wrong."""
    parts = _parts(prefix)
    if parts is None:
        raise ValueError(f"{prefix!r} is not an http(s) URL with a host, e.g. https://api.openai.com/v1")
    if urlsplit(prefix.strip()).username is not None or "?" in prefix or "#" in prefix:
        raise ValueError(f"{prefix!r}: give scheme, host, optional port and path only")
    return prefix.strip()


def endpoint_allowed(endpoint: str, prefixes: Iterable[str]) -> bool:
    """Does `endpoint` lie under one of the URL `prefixes` (same scheme, host and port; path below)?"""
    prefixes = list(prefixes)
    if not prefixes:
        return True
    wanted = _parts(endpoint)
    if wanted is None:
        return False
    for prefix in prefixes:
        allowed = _parts(prefix)
        if allowed is None or allowed[:3] != wanted[:3]:
            continue
        base = allowed[3].rstrip("/")
        if wanted[3] == base or wanted[3].startswith(base + "/") or not base:
            return True
    return False


def name_allowed(name: str, patterns: Iterable[str]) -> bool:
    """Does `name` match one of the shell-style `patterns` (case-sensitive)? No patterns: anything goes."""
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def parse_label(text: str) -> tuple[str, str]:
    """A `--secret-label KEY=VALUE` value. Raises ValueError saying what is wrong."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r} is not KEY=VALUE, e.g. otp.agents.dev/agent-readable=true")
    return key.strip(), value.strip()


# --- A resource against the policy -----------------------------------------------------------------------

SecretLabels = Mapping[str, Mapping[str, str]]
"""The Secrets a resource references that exist: name -> their labels."""


def refusals(
    resource: api.Agent | api.AgentSupervisor, policy: Policy, secrets: SecretLabels | None = None
) -> list[Refusal]:
    """Every field of `resource` the policy refuses. Secrets are judged only when `secrets` is given; a
    referenced Secret missing from it does not exist, which the semantic checks report instead."""
    if not policy.restricts:
        return []
    found: list[Refusal] = []
    for prefix, template in _templates(resource):
        found += _template_refusals(prefix, template, policy, secrets)
    for prefix, worker in _workers(resource):
        found += _image_refusals(f"{prefix}.image", worker.image, policy)
        if secrets is not None:
            found += _secret_refusals(_worker_references(prefix, worker), policy, secrets)
    return found


def _template_refusals(
    prefix: str, template: api.AgentTemplate, policy: Policy, secrets: SecretLabels | None
) -> list[Refusal]:
    found: list[Refusal] = []
    endpoint = template.model.endpoint
    if not endpoint_allowed(endpoint, policy.model_endpoints):
        found.append(
            Refusal(
                f"{prefix}.model.endpoint",
                Rule.MODEL_ENDPOINT,
                f"{endpoint!r} is not under an allowed model endpoint ({FLAGS[Rule.MODEL_ENDPOINT]}: "
                f"{', '.join(policy.model_endpoints)})",
            )
        )
    if template.image is not None:
        found += _image_refusals(f"{prefix}.image", template.image, policy)
    account = template.service_account_name
    if account is not None and not name_allowed(account, policy.service_accounts):
        found.append(
            Refusal(
                f"{prefix}.serviceAccountName",
                Rule.SERVICE_ACCOUNT,
                f"ServiceAccount {account!r} is not allowed ({FLAGS[Rule.SERVICE_ACCOUNT]}: "
                f"{', '.join(policy.service_accounts)}); omit it to run as the agent's own account",
            )
        )
    if secrets is not None:
        found += _secret_refusals(_template_references(prefix, template), policy, secrets)
    return found


def _image_refusals(field_path: str, image: str, policy: Policy) -> list[Refusal]:
    if name_allowed(image, policy.images):
        return []
    return [
        Refusal(
            field_path,
            Rule.IMAGE,
            f"image {image!r} matches no allowed image ({FLAGS[Rule.IMAGE]}: {', '.join(policy.images)})",
        )
    ]


def _secret_refusals(
    references: Iterable[tuple[str, str]], policy: Policy, secrets: SecretLabels
) -> list[Refusal]:
    if not policy.secret_labels:
        return []
    wanted = ", ".join(f"{key}={value}" for key, value in sorted(policy.secret_labels.items()))
    found = []
    for field_path, name in references:
        labels = secrets.get(name)
        if labels is None:
            continue
        if any(labels.get(key) != value for key, value in policy.secret_labels.items()):
            found.append(
                Refusal(
                    f"{field_path}.name",
                    Rule.SECRET,
                    f"Secret {name!r} lacks the labels agents' Secrets must carry "
                    f"({FLAGS[Rule.SECRET]}: {wanted}): label it, or use a Secret that has them",
                )
            )
    return found


def _template_references(prefix: str, template: api.AgentTemplate) -> list[tuple[str, str]]:
    """(field, Secret) of every Secret an agent template reads."""
    found: list[tuple[str, str]] = []
    if template.model.api_key_secret_ref is not None:
        found.append((f"{prefix}.model.apiKeySecretRef", template.model.api_key_secret_ref.name))
    for index, var in enumerate(template.env or []):
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            found.append((f"{prefix}.env[{index}].valueFrom.secretKeyRef", ref.name))
    found += [(path, secret) for path, secret, _ in mcp_servers.secret_references(prefix, template)]
    for index, tool in enumerate(template.tools or []):
        for position, program_var in enumerate(tool.env or []):
            if program_var.secret_key_ref is not None:
                path = f"{prefix}.tools[{index}].env[{position}].secretKeyRef"
                found.append((path, program_var.secret_key_ref.name))
    return found


def _worker_references(prefix: str, worker: api.WorkerSpec) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, var in enumerate(worker.env or []):
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            found.append((f"{prefix}.env[{index}].valueFrom.secretKeyRef", ref.name))
    for index, source in enumerate(worker.env_from or []):
        if source.secret_ref is not None:
            found.append((f"{prefix}.envFrom[{index}].secretRef", source.secret_ref.name))
    return found


def _templates(resource: api.Agent | api.AgentSupervisor) -> Iterable[tuple[str, api.AgentTemplate]]:
    if isinstance(resource, api.Agent):
        yield "spec", resource.spec
        return
    for prefix, child in _children("spec", resource.spec):
        if child.agent is not None:
            yield f"{prefix}.agent", child.agent
        elif child.pool is not None:
            yield f"{prefix}.pool.template", child.pool.template


def _workers(resource: api.Agent | api.AgentSupervisor) -> Iterable[tuple[str, api.WorkerSpec]]:
    if isinstance(resource, api.AgentSupervisor):
        for prefix, child in _children("spec", resource.spec):
            if child.worker is not None:
                yield f"{prefix}.worker", child.worker


def _children(prefix: str, spec: api.SupervisorSpec) -> Iterable[tuple[str, api.ChildSpec]]:
    """Every child entry of the tree with its field path, nested supervisors' included."""
    for index, child in enumerate(spec.children):
        here = f"{prefix}.children[{index}]"
        yield here, child
        if child.supervisor is not None:
            yield from _children(f"{here}.supervisor", child.supervisor)
