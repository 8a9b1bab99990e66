"""Per-pod loopback addresses, so that every pod can bind the same port."""

from __future__ import annotations

import ipaddress

FIRST = ipaddress.IPv4Address("127.0.1.1")
LAST = ipaddress.IPv4Address("127.255.255.254")


class AddressPoolExhaustedError(RuntimeError):
    """Every loopback address is taken."""


class PodAddressPool:
    """Hands out 127.0.1.1-127.255.255.254, skipping .0 and .255; released addresses are reused last."""

    def __init__(self) -> None:
        self._next = int(FIRST)
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
        while self._next <= int(LAST):
            candidate = ipaddress.IPv4Address(self._next)
            self._next += 1
            if candidate.packed[-1] not in (0, 255):
                return str(candidate)
        return None
