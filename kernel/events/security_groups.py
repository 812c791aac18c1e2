"""v1 security group events, published by the provisioner."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from kernel.events.envelope import ActionFailure, EventPayload


class SecurityRuleFact(BaseModel):
    """One rule of a group, as the events report it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: Literal["ingress", "egress"]
    protocol: Literal["tcp", "udp", "icmp", "all"]
    from_port: int | None
    to_port: int | None
    cidr: str


class _SecurityGroupEvent(EventPayload):
    security_group_id: str
    cloud_id: str
    provider_id: str | None

    SUBJECT = "security_group_id"


class SecurityGroupCreated(_SecurityGroupEvent):
    TYPE = "security_group.created"
    name: str
    description: str


class SecurityGroupDeleted(_SecurityGroupEvent):
    TYPE = "security_group.deleted"


class _SecurityGroupRuleEvent(_SecurityGroupEvent):
    rule_id: str
    rule: SecurityRuleFact


class SecurityGroupRuleAuthorized(_SecurityGroupRuleEvent):
    TYPE = "security_group.rule_authorized"


class SecurityGroupRuleRevoked(_SecurityGroupRuleEvent):
    TYPE = "security_group.rule_revoked"


class SecurityGroupFailed(_SecurityGroupEvent, ActionFailure):
    """The cloud could not carry out `action`; the group is left in `state`."""

    TYPE = "security_group.failed"
