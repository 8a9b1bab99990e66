"""Per-pod loopback addresses, so that every pod can bind the same port.

Each pool starts in a /16 of its own, chosen at random: two local clusters on one machine (a demo while the
tests run, or two test sessions) would otherwise give their pods the same addresses, and a pod of one would
answer requests meant for a pod of the other.
"""

from __future__ import annotations

import ipaddress
import os
import secrets

FIRST = ipaddress.IPv4Address("127.0.1.1")
LAST = ipaddress.IPv4Address("127.255.255.254")


FIRST_ADDRESS_ENV = "LOCALCLUSTER_FIRST_POD_IP"
"""Pins the first pod address (for macOS, where each loopback address must be added as an alias first)."""


def random_start() -> ipaddress.IPv4Address:
    """127.N.0.1 for a random N in 1..254: 65,534 addresses before the pool reaches the next /16."""
    return ipaddress.IPv4Address(f"127.{1 + secrets.randbelow(254)}.0.1")


def default_start() -> ipaddress.IPv4Address:
    pinned = os.environ.get(FIRST_ADDRESS_ENV)
    if not pinned:
        return random_start()
    address = ipaddress.IPv4Address(pinned)
    if address not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise ValueError(f"{FIRST_ADDRESS_ENV}={pinned}: pod addresses must be loopback (127.0.0.0/8)")
    return address


class AddressPoolExhaustedError(RuntimeError):
    """Every loopback address is taken."""


class PodAddressPool:
    """Hands out addresses from `first` (default: default_start()) up to 127.255.255.254, then from 127.0.1.1,
    skipping .0 and .255; released addresses are reused last."""

    def __init__(self, first: ipaddress.IPv4Address | None = None) -> None:
        self._start = int(first if first is not None else default_start())
        self._next = self._start
        self._wrapped = False
        self._in_use: dict[str, str] = {}
        self._released: list[str] = []

    def allocate(self, pod_uid: str) -> str:
        if pod_uid in self._in_use:
            return self._in_use[pod_uid]
        address = self._fresh() or (self._released.pop(0) if self._released else None)
        if address is None:
            raise AddressPoolExhaustedError("no free pod address left in 127.0.0.0/8")
        self._in_use[pod_uid] = address
        return address

    def release(self, pod_uid: str) -> None:
        address = self._in_use.pop(pod_uid, None)
        if address is not None:
            self._released.append(address)

    def _fresh(self) -> str | None:
        while True:
            if self._next > int(LAST):
                if self._wrapped:
                    return None
                self._next, self._wrapped = int(FIRST), True
            if self._wrapped and self._next >= self._start:
                return None
            candidate = ipaddress.IPv4Address(self._next)
            self._next += 1
            if candidate.packed[-1] not in (0, 255):
                return str(candidate)
