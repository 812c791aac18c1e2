"""SimCloud's public addresses: the documentation ranges (RFC 5737), so no simulated address is anyone's real one."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Collection

RANGES = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24")

_BY_RANGE = tuple(tuple(str(host) for host in ipaddress.ip_network(cidr).hosts()) for cidr in RANGES)
ADDRESSES: tuple[str, ...] = tuple(ip for hosts in _BY_RANGE for ip in hosts)


def pick(taken: Collection[str]) -> str | None:
    """A free address of the first range that has one, chosen at random as providers hand them out; None when
    the ranges are used up."""
    used = set(taken)
    for hosts in _BY_RANGE:
        free = [ip for ip in hosts if ip not in used]
        if free:
            return secrets.choice(free)
    return None
