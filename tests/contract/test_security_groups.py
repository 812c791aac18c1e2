"""Security groups and their rules, each change read back from `list_security_groups`."""

from __future__ import annotations

import pytest

from adapters.base import Feature, SecurityGroup, SecurityRule
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import Cleanup, eventually, find_group, unique, wait_gone

SSH = SecurityRule(direction="ingress", protocol="tcp", from_port=22, to_port=22, cidr="0.0.0.0/0")
HTTPS = SecurityRule(direction="ingress", protocol="tcp", from_port=443, to_port=443, cidr="10.0.0.0/8")


async def _reads(cloud: ContractCloud, group_id: str, *, has: SecurityRule, present: bool) -> SecurityGroup:
    found = await eventually(
        lambda: find_group(cloud, group_id),
        cloud.settle_seconds,
        until=lambda g: g is not None and (has in g.rules) == present,
        what=f"group {group_id} {'with' if present else 'without'} {has}",
    )
    assert found is not None
    return found


@pytest.mark.needs(Feature.SECURITY_GROUPS)
async def test_group_create_authorize_revoke_delete(cloud: ContractCloud, cleanup: Cleanup) -> None:
    name = unique("sg")
    group = await cloud.adapter.create_security_group(name, "contract: the rule lifecycle")
    cleanup.security_group(group.id)
    assert group.id, "a group without an id"
    assert group.name == name
    assert group.description == "contract: the rule lifecycle"
    assert SSH not in group.rules

    listed = await eventually(
        lambda: find_group(cloud, group.id), cloud.settle_seconds, until=lambda g: g is not None, what=f"group {name}"
    )
    assert listed is not None
    assert (listed.name, listed.description) == (name, group.description)

    answered = await cloud.adapter.authorize_security_rule(group.id, SSH)
    assert SSH in answered.rules, f"authorize answered rules {answered.rules}"
    await _reads(cloud, group.id, has=SSH, present=True)

    await cloud.adapter.authorize_security_rule(group.id, HTTPS)
    await _reads(cloud, group.id, has=HTTPS, present=True)

    answered = await cloud.adapter.revoke_security_rule(group.id, SSH)
    assert SSH not in answered.rules, f"revoke answered rules {answered.rules}"
    after = await _reads(cloud, group.id, has=SSH, present=False)
    assert HTTPS in after.rules, "revoking one rule removed another"

    await cloud.adapter.delete_security_group(group.id)
    await wait_gone(lambda: find_group(cloud, group.id), cloud.settle_seconds, f"security group {group.id}")
    assert name not in {g.name for g in await cloud.adapter.list_security_groups()}
