"""SimCloud's security rules: what is refused, and the one canonical form equal rules share."""

from __future__ import annotations

import pytest

from adapters.base import InvalidCloudRequest, Protocol_, SecurityRule
from adapters.simcloud.rules import canonical


def rule(
    protocol: Protocol_ = "tcp", from_port: int | None = 22, to_port: int | None = 22, cidr: str = "10.0.0.0/8"
) -> SecurityRule:
    return SecurityRule("ingress", protocol, from_port, to_port, cidr)


@pytest.mark.parametrize(
    "good",
    [
        rule(),
        rule("udp", 0, 65535, "0.0.0.0/0"),
        rule("tcp", 8000, 8080, "192.168.1.7/32"),
        rule("icmp", None, None, "0.0.0.0/0"),
        rule("all", None, None, "::/0"),
        SecurityRule("egress", "tcp", 443, 443, "0.0.0.0/0"),
    ],
)
def test_sound_rules_are_kept_as_they_are(good: SecurityRule) -> None:
    assert canonical(good) == good


def test_an_ipv6_block_is_written_one_way() -> None:
    assert canonical(rule(cidr="2001:DB8:0::/32")).cidr == "2001:db8::/32"


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        (rule(cidr="10.0.0.0/33"), "not a valid CIDR"),
        (rule(cidr="10.0.0.1/8"), "not a valid CIDR"),
        (rule(cidr="nonsense/8"), "not a valid CIDR"),
        (rule(cidr="10.0.0.1"), "CIDR notation"),
        (rule(from_port=-1), "outside 0-65535"),
        (rule(to_port=65536), "outside 0-65535"),
        (rule(from_port=443, to_port=80), "above to_port"),
        (rule(from_port=None), "needs from_port and to_port"),
        (rule("icmp", 8, 0), "takes no ports"),
        (rule("all", 0, 65535), "takes no ports"),
        (rule("sctp"), "protocol must be one of"),  # type: ignore[arg-type]
        (SecurityRule("sideways", "tcp", 22, 22, "10.0.0.0/8"), "direction"),  # type: ignore[arg-type]
    ],
)
def test_unsound_rules_are_refused_with_the_reason(bad: SecurityRule, complaint: str) -> None:
    with pytest.raises(InvalidCloudRequest, match=complaint):
        canonical(bad)
