"""Use cases of security groups: create one, authorize and revoke its rules, delete it (409 while instances that
have not ended use it)."""

from __future__ import annotations

from adapters.base import SecurityRule
from kernel.errors import InvalidState, NotFound
from services.provisioner.resources.domain import ResourceRecord
from services.provisioner.resources.handlers.flow import (
    Outcome,
    Ports,
    act,
    create,
    new_record,
    owned_cloud,
    owned_resource,
)
from services.provisioner.resources.security_rules import check_rule, find_rule, rule_id, rule_to_dict


async def create_security_group(
    ports: Ports, *, project_id: str, cloud_id: str, name: str, description: str, correlation_id: str
) -> Outcome:
    await owned_cloud(ports, project_id, cloud_id, "create_security_group")
    record = new_record(
        "security_group",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"description": description, "rules": []},
    )
    return await create(ports, record)


async def authorize_rule(
    ports: Ports, *, project_id: str, group_id: str, rule: SecurityRule, correlation_id: str
) -> Outcome:
    group = await owned_resource(ports, project_id, "security_group", group_id)
    rule = check_rule(rule)
    if find_rule(group, rule_id(rule)) is not None:
        return Outcome(group, done=True)  # granted already: nothing to do
    return await _rule_action(ports, group, "authorize", rule, correlation_id)


async def revoke_rule(ports: Ports, *, project_id: str, group_id: str, rule_id: str, correlation_id: str) -> Outcome:
    group = await owned_resource(ports, project_id, "security_group", group_id)
    rule = find_rule(group, rule_id)
    if rule is None:
        raise NotFound(f"Security group {group_id} has no rule {rule_id}.")
    return await _rule_action(ports, group, "revoke", rule, correlation_id)


async def _rule_action(
    ports: Ports, group: ResourceRecord, action: str, rule: SecurityRule, correlation_id: str
) -> Outcome:
    return await act(ports, group, action, params={"rule": rule_to_dict(rule)}, correlation_id=correlation_id)


async def delete_security_group(ports: Ports, *, project_id: str, group_id: str, correlation_id: str) -> Outcome:
    group = await owned_resource(ports, project_id, "security_group", group_id)
    async with ports.uow.reading() as repos:
        users = await repos.instances.using_security_group(project_id, group.id)
    if users:
        raise InvalidState(
            f"Security group {group_id} is used by {len(users)} instance(s) that are not terminated: "
            + ", ".join(users[:5]),
            instance_ids=users[:20],
        )
    return await act(ports, group, "delete", correlation_id=correlation_id)


__all__ = ["authorize_rule", "create_security_group", "delete_security_group", "revoke_rule"]
