"""Security group rules: their ids (derived from their content, the same on every cloud), their stored form, and
checking a rule a request asks for."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from adapters.base import SecurityRule
from kernel.errors import ValidationFailed
from kernel.events import SecurityRuleFact
from services.provisioner.resources.domain import ResourceRecord


def rule_id(rule: SecurityRule) -> str:
    """A rule's id: derived from its content, so the same rule always has the same id on every cloud."""
    text = f"{rule.direction}|{rule.protocol}|{rule.from_port}|{rule.to_port}|{rule.cidr}"
    return "rule-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def rule_to_dict(rule: SecurityRule) -> dict[str, Any]:
    return {
        "id": rule_id(rule),
        "direction": rule.direction,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "cidr": rule.cidr,
    }


def rule_from_dict(data: Mapping[str, Any]) -> SecurityRule:
    return SecurityRule(
        direction=data["direction"],
        protocol=data["protocol"],
        from_port=data["from_port"],
        to_port=data["to_port"],
        cidr=data["cidr"],
    )


def rule_fact(rule: SecurityRule) -> SecurityRuleFact:
    return SecurityRuleFact(
        direction=rule.direction, protocol=rule.protocol, from_port=rule.from_port, to_port=rule.to_port, cidr=rule.cidr
    )


def check_rule(rule: SecurityRule, location: str = "body") -> SecurityRule:
    """A rule normalised (the CIDR in canonical form), or ValidationFailed naming what is wrong."""
    problems = []
    try:
        cidr = str(ipaddress.ip_network(rule.cidr, strict=False))
    except ValueError:
        problems.append({"location": f"{location}.cidr", "message": f"{rule.cidr!r} is not an IP network"})
        cidr = rule.cidr
    from_port, to_port = rule.from_port, rule.to_port
    if rule.protocol in ("tcp", "udp"):
        if from_port is None or to_port is None:
            problems.append({"location": f"{location}.from_port", "message": f"{rule.protocol} rules need ports"})
        elif not (0 <= from_port <= to_port <= 65535):
            problems.append(
                {"location": f"{location}.to_port", "message": "ports must satisfy 0 <= from_port <= to_port <= 65535"}
            )
    elif from_port is not None or to_port is not None:
        problems.append({"location": f"{location}.from_port", "message": f"{rule.protocol} rules take no ports"})
    if problems:
        raise ValidationFailed("The security rule is not valid.", errors=problems)
    return SecurityRule(
        direction=rule.direction, protocol=rule.protocol, from_port=from_port, to_port=to_port, cidr=cidr
    )


def find_rule(record: ResourceRecord, wanted_id: str) -> SecurityRule | None:
    for data in record.attrs.get("rules", []):
        if data["id"] == wanted_id:
            return rule_from_dict(data)
    return None


__all__ = ["check_rule", "find_rule", "rule_fact", "rule_from_dict", "rule_id", "rule_to_dict"]
