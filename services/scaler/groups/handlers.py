"""Scaling groups' use cases: create, change, delete, read; members and their protection from scale-in."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kernel.events.scaling import ScalingDecided, ScalingGroupCreated, ScalingGroupDeleted, ScalingGroupUpdated
from kernel.identity import Identity
from kernel.keyset import PageRequest
from services.scaler.decisions.handlers import Outcome, act, write
from services.scaler.errors import GroupHasMembers, GroupNameTaken, GroupNotFound, MemberNotFound
from services.scaler.groups.domain import (
    Group,
    Hook,
    Member,
    check_bounds,
    check_hooks,
    check_kind,
    check_termination_policies,
    invalid,
)
from services.scaler.groups.repository import GroupFilter
from services.scaler.schemas import GroupIn, GroupPatch, HookIn
from services.scaler.unit_of_work import Repositories, ScalerTransaction, ScalerUnitOfWork

__all__ = ["create", "delete", "get", "list_groups", "members", "protect", "update"]


def _hooks(hooks: list[HookIn]) -> tuple[Hook, ...]:
    return tuple(Hook(h.name, h.transition, h.timeout_seconds, h.default_result) for h in hooks)


async def _check_template(repos: Repositories, project_id: str, template_id: str, version: int) -> None:
    deprecated = await repos.templates.state(project_id, template_id, version)
    if deprecated is None:
        raise invalid("template_version", f"the project has no version {version} of template {template_id}")
    if deprecated:
        raise invalid("template_version", f"version {version} of template {template_id} is deprecated")


async def _template_of(repos: Repositories, project_id: str, body: GroupIn) -> tuple[str, int]:
    """The template version the group launches: the one named, or its cluster role's (422 for a cluster role the
    scaler has not been told of)."""
    if body.cluster_id is None or body.cluster_role is None:
        assert body.template_id is not None and body.template_version is not None  # check_kind saw to it
        await _check_template(repos, project_id, body.template_id, body.template_version)
        return body.template_id, body.template_version
    found = await repos.cluster_roles.template_of(project_id, body.cluster_id, body.cluster_role)
    if found is None:
        raise invalid(
            "cluster_role", f"the project has no running cluster {body.cluster_id} with role {body.cluster_role}"
        )
    return found


async def locked(tx: ScalerTransaction, caller: Identity, group_id: str) -> Group:
    group = await tx.repos.groups.lock(group_id, caller.project_id)
    if group is None:
        raise GroupNotFound(f"No scaling group {group_id} in this project.")
    return group


async def create(uow: ScalerUnitOfWork, caller: Identity, body: GroupIn, correlation_id: str) -> Group:
    check_kind(body.template_id, body.template_version, body.cluster_id, body.cluster_role)
    desired = body.min_size if body.desired is None else body.desired
    check_bounds(body.min_size, body.max_size, desired)
    check_termination_policies(tuple(body.termination_policies))
    hooks = _hooks(body.lifecycle_hooks)
    check_hooks(hooks)
    now = datetime.now(UTC)
    group = Group(
        id=str(uuid.uuid4()),
        project_id=caller.project_id,
        name=body.name,
        template_id=body.template_id or "",
        template_version=body.template_version or 0,
        cluster_id=body.cluster_id,
        cluster_role=body.cluster_role,
        min_size=body.min_size,
        max_size=body.max_size,
        desired=desired,
        allowed_clouds=tuple(body.allowed_clouds),
        allowed_zones=tuple(body.allowed_zones),
        strategy=body.strategy,
        tags=dict(body.tags),
        inputs=dict(body.inputs),
        cooldown_seconds=body.cooldown_seconds,
        stabilisation_seconds=body.stabilisation_seconds,
        termination_policies=tuple(body.termination_policies),
        hooks=hooks,
        created_at=now,
        updated_at=now,
        correlation_id=correlation_id,
    )
    async with uow.transaction() as tx:
        template_id, version = await _template_of(tx.repos, caller.project_id, body)
        group = replace(group, template_id=template_id, template_version=version)
        if await tx.repos.groups.name_taken(caller.project_id, body.name):
            raise GroupNameTaken(f"The project has a scaling group named {body.name}.")
        await tx.repos.groups.add(group)
        out = Outcome(group)
        out.payloads.append(
            ScalingGroupCreated(
                group_id=group.id,
                name=group.name,
                template_id=group.template_id,
                template_version=group.template_version,
                min_size=group.min_size,
                max_size=group.max_size,
                desired=group.desired,
            )
        )
        out.note(
            "created",
            f"created by {caller.principal} with desired {desired} (min {body.min_size}, max {body.max_size})",
        )
        act(out, [], now, f"the group starts with desired {desired}")
        await write(tx, [out])
        return out.group


async def update(uow: ScalerUnitOfWork, caller: Identity, group_id: str, body: GroupPatch) -> Group:
    given = body.model_dump(exclude_unset=True)
    now = datetime.now(UTC)
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        changes: dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            if name == "lifecycle_hooks":
                hooks = _hooks(body.lifecycle_hooks or [])
                check_hooks(hooks)
                changes["hooks"] = hooks
            elif name in ("allowed_clouds", "allowed_zones", "termination_policies"):
                changes[name] = tuple(value)
            else:
                changes[name] = value
        after = replace(group, **changes)
        if "desired" not in changes and ("min_size" in changes or "max_size" in changes):
            after = replace(after, desired=max(after.min_size, min(after.max_size, after.desired)))
        check_bounds(after.min_size, after.max_size, after.desired)
        check_termination_policies(after.termination_policies)
        if after.template_version != group.template_version and group.cluster_id is not None:
            raise invalid("template_version", "a group over a cluster role launches its role's template version")
        if after.template_version != group.template_version:
            await _check_template(tx.repos, caller.project_id, after.template_id, after.template_version)
        out = Outcome(after)
        told = {k: (list(v) if isinstance(v, tuple) else v) for k, v in given.items() if v is not None}
        if "hooks" in changes:
            told["lifecycle_hooks"] = [h.model_dump() for h in body.lifecycle_hooks or []]
        if told:
            out.payloads.append(ScalingGroupUpdated(group_id=group.id, changes=told))
        if after.desired != group.desired:
            reason = f"set {group.desired} -> {after.desired} by {caller.principal}"
            out.group = replace(out.group, last_scaled_at=now)
            out.payloads.append(
                ScalingDecided(group_id=group.id, previous=group.desired, desired=after.desired, reason=reason)
            )
            out.note("decided", reason, previous=group.desired, desired=after.desired)
        act(out, await tx.repos.members.of_groups([group.id]), now)
        await write(tx, [out], settings=True)
        return out.group


async def delete(uow: ScalerUnitOfWork, caller: Identity, group_id: str) -> None:
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        if await tx.repos.members.of_groups([group.id]):
            raise GroupHasMembers(
                "The group still has members: set its min_size and desired to 0, and delete it once they are gone."
            )
        tx.emit(group, ScalingGroupDeleted(group_id=group.id))
        await tx.repos.groups.delete(group)


async def get(uow: ScalerUnitOfWork, caller: Identity, group_id: str) -> Group:
    async with uow.reading() as repos:
        group = await repos.groups.get(caller.project_id, group_id)
    if group is None:
        raise GroupNotFound(f"No scaling group {group_id} in this project.")
    return group


async def list_groups(
    uow: ScalerUnitOfWork, filters: GroupFilter, paging: PageRequest
) -> tuple[list[Group], str | None]:
    async with uow.reading() as repos:
        return await repos.groups.page(filters, paging)


async def members(uow: ScalerUnitOfWork, caller: Identity, group_id: str) -> list[Member]:
    async with uow.reading() as repos:
        group = await repos.groups.get(caller.project_id, group_id)
        if group is None:
            raise GroupNotFound(f"No scaling group {group_id} in this project.")
        return await repos.members.of_groups([group.id])


async def protect(uow: ScalerUnitOfWork, caller: Identity, group_id: str, instance_id: str, protected: bool) -> Member:
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        member = await tx.repos.members.get(instance_id)
        if member is None or member.group_id != group.id:
            raise MemberNotFound(f"No member {instance_id} in this scaling group.")
        after = replace(member, protected=protected)
        if after != member:
            out = Outcome(group)
            word = "protected from" if protected else "no longer protected from"
            out.note("protection", f"{instance_id} {word} scale-in by {caller.principal}", instance_id)
            out.members.append(after)
            await write(tx, [out])
        return after
