"""The operator's own settings that shape what it decides and the objects it creates (from its flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from agent_runtime.incarnation_protocol import DEFAULT_CONTROL_PORT
from agent_supervisor import api
from agent_supervisor.translate import labels
from agent_supervisor.translate.policy import Policy
from agent_supervisor.translate.runtime_config import DEFAULT_PEER_TEMPLATE, RenderContext

NON_ROOT_UID: Final = 65532
"""A numeric non-root user, so the kubelet can verify runAsNonRoot without reading the image's metadata."""


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """Operator-wide choices that shape the objects it creates."""

    default_image: str
    """The agent runtime image for templates that name none."""
    agent_port: int = 8080
    start_deadline_seconds: int = 120
    """A pod not Ready this long after its creation is a failed start."""
    peer_template: str = DEFAULT_PEER_TEMPLATE
    peers_via_api_server: bool = False
    api_url_for_pods: str | None = None
    """The API server URL as seen from pods (checkpoints, peers via the API server); None: in-cluster env."""
    otlp_endpoint: str | None = None
    """Where agent pods export traces (OTEL_EXPORTER_OTLP_ENDPOINT) unless an agent's env says otherwise;
    None: no traces unless an agent's env asks (agent_runtime/tracing.py)."""
    image_pull_policy: str | None = None
    run_as_user: int = NON_ROOT_UID
    readiness_period_seconds: int = 1
    """Short, because readiness is how a start completes and a supervisor waits for it to start the next."""
    liveness_period_seconds: int = 10
    liveness_failure_threshold: int = 3
    control_token_sha256: str | None = None
    """In-place restarts: pods run a pod supervisor that takes this hash of the operator's control token.
    None: every incarnation is a new pod."""
    control_port: int = DEFAULT_CONTROL_PORT
    allow_test_tools: bool = False
    """Accept test-only tools (`crash`) in specs: for tests and demos, never in production."""
    policy: Policy = field(default_factory=Policy)
    """The model endpoints, images, ServiceAccounts and Secrets resources may use (translate/policy.py)."""

    @property
    def in_place_restarts(self) -> bool:
        return self.control_token_sha256 is not None

    def render_context(self, agent: api.Agent) -> RenderContext:
        """What rendering `agent`'s runtime config takes from these settings and its place in its tree."""
        return RenderContext(
            namespace=agent.metadata.namespace or "default",
            supervisor_path=(agent.metadata.annotations or {}).get(labels.SUPERVISOR_PATH, ""),
            peer_template=self.peer_template,
            peers_via_api_server=self.peers_via_api_server,
            api_url=self.api_url_for_pods,
        )
