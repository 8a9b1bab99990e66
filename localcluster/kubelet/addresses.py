"""Per-pod loopback addresses, so that every pod can bind the same port.

Each pool starts in a /16 of its own, chosen at random among those no other live pool holds: two local
clusters on one machine (a demo while the tests run, or parallel test workers) would otherwise give their pods
the same addresses, and a pod of one would answer requests meant for a pod of the other. A pool holds its /16
with an exclusive lock on a file in the temporary directory; the kernel drops the lock when the pool closes it
or its process dies, so a crashed cluster never keeps a /16.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import random
import tempfile
from pathlib import Path
from typing import IO

FIRST = ipaddress.IPv4Address("127.0.1.1")
LAST = ipaddress.IPv4Address("127.255.255.254")


FIRST_ADDRESS_ENV = "LOCALCLUSTER_FIRST_POD_IP"
"""Pins the first pod address (for macOS, where each loopback address must be added as an alias first)."""


LOCK_DIR_NAME = "localcluster-pod-subnets"
"""Under the temporary directory: one lock file per /16 (``127.N.lock``) that some pool has held."""


def lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / LOCK_DIR_NAME


def _try_lock(second_octet: int) -> IO[bytes] | None:
    """The open, locked file of 127.N.0.0/16, or None when another pool holds it (or locks cannot be had)."""
    try:
        directory = lock_dir()
        directory.mkdir(exist_ok=True)
        handle = (directory / f"127.{second_octet}.lock").open("ab")
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def reserve_random_start() -> tuple[ipaddress.IPv4Address, IO[bytes] | None]:
    """127.N.0.1 for a random N in 1..254 that no other live pool holds, and the lock that holds it
    (65,534 addresses before the pool reaches the next /16). When every /16 is held, or the lock directory
    cannot be written, a random N without a lock: a clash is then possible but unlikely, as before locks."""
    candidates = list(range(1, 255))
    random.SystemRandom().shuffle(candidates)
    for second_octet in candidates:
        handle = _try_lock(second_octet)
        if handle is not None:
            return ipaddress.IPv4Address(f"127.{second_octet}.0.1"), handle
    return ipaddress.IPv4Address(f"127.{candidates[0]}.0.1"), None


def pinned_start() -> ipaddress.IPv4Address | None:
    pinned = os.environ.get(FIRST_ADDRESS_ENV)
    if not pinned:
        return None
    address = ipaddress.IPv4Address(pinned)
    if address not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise ValueError(f"{FIRST_ADDRESS_ENV}={pinned}: pod addresses must be loopback (127.0.0.0/8)")
    return address


class AddressPoolExhaustedError(RuntimeError):
    """Every loopback address is taken."""


class PodAddressPool:
    """Hands out addresses from `first` up to 127.255.255.254, then from 127.0.1.1, skipping .0 and .255;
    released addresses are reused last. Without `first`: $LOCALCLUSTER_FIRST_POD_IP, else the start of a /16
    this pool holds until close()."""

    def __init__(self, first: ipaddress.IPv4Address | None = None) -> None:
        self._reservation: IO[bytes] | None = None
        if first is None:
            first = pinned_start()
        if first is None:
            first, self._reservation = reserve_random_start()
        self._start = int(first)
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

    def close(self) -> None:
        """Lets another pool take this pool's /16 (its pods are gone)."""
        if self._reservation is not None:
            with contextlib.suppress(OSError):
                self._reservation.close()
            self._reservation = None

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
