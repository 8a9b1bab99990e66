"""The environment variables of the in-place restart contract (`incarnation_protocol` re-exports them).

Kept apart, with no imports, because the pod supervisor reads them first thing, before it loads anything
heavy (pydantic alone takes about a tenth of a second): every millisecond before it starts the agent's first
process adds to a fresh pod's start-up.
"""

from typing import Final

CONTROL_PORT_ENV: Final = "AGENT_CONTROL_PORT"
"""Set on the container: the pod supervisor serves the control API on this port. Unset: no pod supervisor,
the container runs one incarnation (the pod-replacing path)."""
CONTROL_TOKEN_SHA256_ENV: Final = "AGENT_CONTROL_TOKEN_SHA256"
"""Hex SHA-256 of the bearer token the operator controls the pod with. Only the hash is in the pod, so an
agent (which can read its pod's environment) cannot control its own or any other pod supervisor."""
FIRST_ATTEMPT_ENV: Final = "AGENT_FIRST_ATTEMPT"
"""The attempt the pod was created for: the pod supervisor starts that incarnation at once."""
ATTEMPT_ENV: Final = "AGENT_ATTEMPT"
"""Set in each incarnation's environment: the attempt it is."""
