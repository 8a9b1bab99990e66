"""Where `http_get` may go: host names and ports from its allowlist, and only public addresses unless allowed.

Pure decisions (no I/O): the tool checks a URL's host and port before a request, and the address it
actually connects to (after resolving the name, see tools/http_connect.py) at connect time, so a name that
resolves to a private address - an allowlisted name pointing at 127.0.0.1, or a DNS answer that changes
between a check and a connect - is refused all the same.
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS: Final = (80, 443)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
"""The well-known NAT64 prefix: its addresses carry an IPv4 address in their last 32 bits."""


@dataclass(frozen=True)
class HostEntry:
    """One `allowedHosts` entry: `name`, `*.name` (subdomains of name, not name itself) or an IP address,
    each optionally with `:port` (that port only, instead of `allowedPorts`)."""

    host: str
    port: int | None

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_host_entry(entry: str) -> HostEntry:
    """Raises ValueError with the fix when `entry` is not a host name, `*.` pattern or IP address."""
    text = entry.strip().lower().rstrip(".")
    host, port = text, None
    if text.count(":") == 1:  # a name or IPv4 address with a port; IPv6 addresses have several colons
        host, _, port_text = text.partition(":")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{entry!r}: the port after ':' must be a number from 1 to 65535")
        port = int(port_text)
    if not host or "/" in host or "://" in entry:
        raise ValueError(f"{entry!r}: give a host name, `*.example.com` or an IP address, not a URL")
    if host.startswith("*."):
        suffix = host[2:]
        if not suffix or "*" in suffix:
            raise ValueError(f"{entry!r}: a wildcard is a leading `*.` before a domain, e.g. *.example.com")
        if suffix.rsplit(".", 1)[-1].isdigit() or is_ip_literal(suffix):
            raise ValueError(
                f"{entry!r}: a wildcard matches host names only, never IP addresses; name an address exactly"
            )
    return HostEntry(host, port)


def _host_matches(host: str, entry: HostEntry) -> bool:
    if is_ip_literal(host):
        # An address matches only itself, written however (::1 and 0:0::1 are one address).
        return is_ip_literal(entry.host) and ipaddress.ip_address(host) == ipaddress.ip_address(entry.host)
    if entry.wildcard:
        return host.endswith(entry.host[1:]) and host != entry.host[2:]
    return host == entry.host


def url_refusal(host: str, port: int, entries: Sequence[HostEntry], ports: Sequence[int]) -> str | None:
    """Why a request to `host:port` is refused, or None when the allowlist allows it."""
    host = host.lower().rstrip(".")
    matching = [entry for entry in entries if _host_matches(host, entry)]
    if not matching:
        return f"host {host!r} is not allowed"
    if any(port == entry.port if entry.port is not None else port in ports for entry in matching):
        return None
    allowed = ", ".join(str(p) for p in ports)
    return (
        f"port {port} of host {host!r} is not allowed (allowedPorts: {allowed}); "
        f"allow it in allowedPorts or as {host}:{port} in allowedHosts"
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: IPAddress) -> str | None:
    """What makes an address non-public, or None for a public (globally routable unicast) one."""
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:  # shared (carrier-grade NAT), documentation and other special ranges
        return "reserved"
    return None


def address_refusal(address: IPAddress, allowed_networks: Sequence[IPNetwork]) -> str | None:
    """Why connecting to `address` is refused, or None: public addresses, and those in `allowed_networks`."""
    embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    candidates = [address] if embedded is None else [address, embedded]
    if any(candidate in network for candidate in candidates for network in allowed_networks):
        return None
    kind = _kind(embedded or address)  # an embedded IPv4 address is where the packets go
    return None if kind is None else f"{address} is a {kind} address, not in allowedNetworks"
