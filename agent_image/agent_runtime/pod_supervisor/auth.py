"""Who may control the pod: a bearer token whose SHA-256 is the one the pod was given.

Only the hash is in the pod's environment. An agent can read its own environment (run_program, /proc), so a
token there would let it restart or release itself, or any other agent of the tree sharing the token; a hash
gives it nothing to send. The operator keeps the token.
"""

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


def check(
    authorization: str | None, expected_sha256: str | None, token_header: str | None = None
) -> Refusal | None:
    """None when `authorization` (or `token_header`, the token alone) carries the token; otherwise the
    401/403 to answer. The API server's pod proxy consumes Authorization as its own credential, so a client
    that comes that way (the chaos soak on a real cluster) sends the token in a header of its own."""
    if expected_sha256 is None:
        return Refusal(
            403,
            "this pod was started without a control token (AGENT_CONTROL_TOKEN_SHA256 is unset): "
            "it cannot be controlled",
        )
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    token = token or (token_header or "").strip()
    if not token:
        return Refusal(401, "missing token: send `Authorization: Bearer <control token>`")
    offered = hashlib.sha256(token.encode()).hexdigest()
    if not hmac.compare_digest(offered, expected_sha256):
        return Refusal(
            401, "wrong token: send `Authorization: Bearer <control token>` whose SHA-256 the pod was given"
        )
    return None
