"""The pod supervisor's settings, from its environment. Read before anything heavy is imported."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from agent_runtime.incarnation_env import CONTROL_PORT_ENV, CONTROL_TOKEN_SHA256_ENV, FIRST_ATTEMPT_ENV

HEARTBEAT_ENV: Final = "AGENT_CONTROL_HEARTBEAT_SECONDS"
"""Seconds between heartbeat lines of a watch; at most the protocol's HEARTBEAT_SECONDS (tests shorten it)."""
MAX_HEARTBEAT_SECONDS: Final = 5.0  # incarnation_protocol.HEARTBEAT_SECONDS, which imports pydantic
_SHA256_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")


class SettingsError(Exception):
    """An environment variable is unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    host: str
    control_port: int
    agent_port: int
    first_attempt: int
    token_sha256: str | None
    heartbeat_seconds: float

    @property
    def probe_host(self) -> str:
        """Where this process reaches the incarnation's own API: a wildcard address means loopback."""
        return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip() or str(default)
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}: {text!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value} is not between {low} and {high}")
    return value


def _heartbeat(env: Mapping[str, str]) -> float:
    text = env.get(HEARTBEAT_ENV, "").strip()
    if not text:
        return MAX_HEARTBEAT_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{HEARTBEAT_ENV}: {text!r} is not a number") from None
    if not 0 < value <= MAX_HEARTBEAT_SECONDS:
        raise SettingsError(f"{HEARTBEAT_ENV}: {value} is not in (0, {MAX_HEARTBEAT_SECONDS}]")
    return value


def _token_hash(env: Mapping[str, str]) -> str | None:
    text = env.get(CONTROL_TOKEN_SHA256_ENV, "").strip()
    if not text:
        return None  # every authenticated endpoint answers 403: see auth.py
    if not _SHA256_HEX.fullmatch(text):
        # A malformed hash would lock the operator out for good; better to fail the pod at once.
        raise SettingsError(f"{CONTROL_TOKEN_SHA256_ENV}: not a hex SHA-256 digest (64 hex digits)")
    return text.lower()


def from_env(env: Mapping[str, str] = os.environ) -> Settings:
    return Settings(
        host=env.get("AGENT_HOST", "0.0.0.0"),
        control_port=_integer(env, CONTROL_PORT_ENV, 0, 1, 65535),
        agent_port=_integer(env, "AGENT_PORT", 8080, 1, 65535),
        first_attempt=_integer(env, FIRST_ATTEMPT_ENV, 1, 1, 2**31 - 1),
        token_sha256=_token_hash(env),
        heartbeat_seconds=_heartbeat(env),
    )
