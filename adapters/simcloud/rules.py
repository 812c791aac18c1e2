"""Security rules as SimCloud accepts them: checked and put in one canonical form, so equal rules compare equal."""

from __future__ import annotations

import ipaddress

from adapters.base import InvalidCloudRequest, SecurityRule

_PORTED = frozenset({"tcp", "udp"})
_PORTLESS = frozenset({"icmp", "all"})


def canonical(rule: SecurityRule) -> SecurityRule:
    """The rule with its CIDR normalised; `InvalidCloudRequest` for anything a provider would refuse."""
    if rule.direction not in ("ingress", "egress"):
        raise InvalidCloudRequest(f"direction must be ingress or egress, not {rule.direction!r}")
    if rule.protocol in _PORTED:
        if rule.from_port is None or rule.to_port is None:
            raise InvalidCloudRequest(f"a {rule.protocol} rule needs from_port and to_port")
        for port in (rule.from_port, rule.to_port):
            if not 0 <= port <= 65535:
                raise InvalidCloudRequest(f"port {port} is outside 0-65535")
        if rule.from_port > rule.to_port:
            raise InvalidCloudRequest(f"from_port {rule.from_port} is above to_port {rule.to_port}")
    elif rule.protocol in _PORTLESS:
        if rule.from_port is not None or rule.to_port is not None:
            raise InvalidCloudRequest(f"a rule for protocol {rule.protocol} takes no ports")
    else:
        raise InvalidCloudRequest(f"protocol must be one of tcp, udp, icmp, all, not {rule.protocol!r}")
    if "/" not in rule.cidr:
        raise InvalidCloudRequest(f"{rule.cidr!r} is not in CIDR notation (address/prefix)")
    try:
        network = ipaddress.ip_network(rule.cidr.strip(), strict=True)
    except ValueError as exc:
        raise InvalidCloudRequest(f"{rule.cidr!r} is not a valid CIDR block: {exc}") from None
    return SecurityRule(rule.direction, rule.protocol, rule.from_port, rule.to_port, str(network))
