"""IP networks given in settings: parsed once at start, then asked whether an address is in one of them."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: str | Iterable[str | Network]) -> tuple[Network, ...]:
    """Networks from addresses or CIDR blocks, given one by one or comma-separated; ValueError when one is not."""
    if isinstance(values, str):
        values = values.split(",")
    return tuple(
        value if isinstance(value, Network) else ipaddress.ip_network(value.strip(), strict=False)
        for value in values
        if not isinstance(value, str) or value.strip()
    )


def network_of(address: str | Address, networks: Collection[Network]) -> Network | None:
    """The first of `networks` that holds `address`, or None (also when `address` is not an IP address).

    An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) counts as the IPv4 address it carries: a socket reaches that.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return None
    candidates: list[Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return next((net for net in networks for each in candidates if each.version == net.version and each in net), None)


__all__ = ["Address", "Network", "network_of", "parse_networks"]
