"""IP networks given in settings: parsed once at start, then asked whether an address is in one of them; and the
check that keeps a user-given URL (a cloud endpoint, a webhook) from reaching this machine or a cloud's metadata
service."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection, Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where a URL a user gives may not lead by default: this machine (loopback, "any"), link-local addresses (the clouds'
# metadata services at 169.254.169.254 and EC2's fd00:ec2::254).
LOCAL_NETWORKS = "127.0.0.0/8,::1/128,0.0.0.0/8,::/128,169.254.0.0/16,fe80::/10,fd00:ec2::254/128"


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


async def resolve(host: str) -> list[str]:
    """The addresses `host` resolves to (an address resolves to itself), off the event loop; empty when it does not
    resolve."""
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(sockaddr[0]) for *_, sockaddr in answers})


def refusal(host: str, addresses: Sequence[str], deny: Collection[Network]) -> str | None:
    """Why `host`, resolved to `addresses`, may not be reached (one of them is in a denied network, or there are
    none), or None when it may."""
    if not addresses:
        return f"{host} does not resolve"
    for address in addresses:
        network = network_of(address, deny)
        if network is not None:
            if host == address.split("%", 1)[0]:
                return f"{address} is in {network}"
            return f"{host} resolves to {address}, in {network}"
    return None


__all__ = ["LOCAL_NETWORKS", "Address", "Network", "network_of", "parse_networks", "refusal", "resolve"]
