"""Scaling policies' use cases: add one (refused, naming the field, when it could never act: a metric nobody
publishes, a cron that never fires), list, read and delete them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from kernel.events.metrics import CLOUD_METRICS
from kernel.events.scaling import ScalingPolicyCreated, ScalingPolicyDeleted
from kernel.identity import Identity
from services.scaler.decisions.handlers import Outcome, write
from services.scaler.errors import GroupNotFound, PolicyNameTaken, PolicyNotFound
from services.scaler.groups.domain import invalid
from services.scaler.groups.handlers import locked
from services.scaler.policies.cron import CronError, parse_cron, time_zone
from services.scaler.policies.domain import Policy, Step
from services.scaler.schemas import PolicyIn
from services.scaler.unit_of_work import Repositories, ScalerUnitOfWork

__all__ = ["create", "delete", "get", "list_policies"]


def _required(body: PolicyIn, *names: str) -> None:
    for name in names:
        if getattr(body, name) in (None, []):
            raise invalid(name, f"a {body.kind} policy needs `{name}`")


async def _check_metric(repos: Repositories, project_id: str, metric: str) -> None:
    if metric not in CLOUD_METRICS and not await repos.metric_names.known(project_id, metric):
        raise invalid(
            "metric",
            f"nobody publishes {metric!r}: clouds publish {', '.join(sorted(CLOUD_METRICS))}, and the project's agents "
            "none by that name yet",
        )


def _policy(body: PolicyIn, group_id: str, project_id: str, now: datetime) -> Policy:
    policy = Policy(
        id=str(uuid.uuid4()),
        group_id=group_id,
        project_id=project_id,
        name=body.name,
        kind=body.kind,
        metric=body.metric if body.kind != "scheduled" else None,
        target=body.target,
        warmup_seconds=body.warmup_seconds,
        tolerance=body.tolerance,
        adjustment_type=body.adjustment_type,
        steps=tuple(Step(s.adjustment, s.lower, s.upper) for s in body.steps),
        min_adjustment_magnitude=body.min_adjustment_magnitude,
        cron=body.cron,
        time_zone=body.time_zone,
        min_size=body.min_size,
        max_size=body.max_size,
        desired=body.desired,
        created_at=now,
    )
    if body.kind != "scheduled":
        return policy
    try:
        time_zone(body.time_zone)
    except CronError as exc:
        raise invalid("time_zone", str(exc)) from None
    try:
        parse_cron(body.cron or "")
    except CronError as exc:
        raise invalid("cron", str(exc)) from None
    first = policy.next_run(now)
    if first is None:
        raise invalid("cron", f"{body.cron!r} never fires")
    return replace(policy, next_run_at=first)


def _check_shape(body: PolicyIn) -> None:
    if body.kind == "target_tracking":
        _required(body, "metric", "target")
    elif body.kind == "step":
        _required(body, "metric", "steps")
        for i, step in enumerate(body.steps):
            if step.lower is not None and step.upper is not None and step.lower >= step.upper:
                raise invalid(f"steps.{i}.lower", "lower must be below upper")
    else:
        _required(body, "cron")
        if body.min_size is None and body.max_size is None and body.desired is None:
            raise invalid("desired", "a scheduled action sets at least one of min_size, max_size and desired")


async def create(uow: ScalerUnitOfWork, caller: Identity, group_id: str, body: PolicyIn) -> Policy:
    _check_shape(body)
    now = datetime.now(UTC)
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        policy = _policy(body, group.id, group.project_id, now)
        if policy.metric is not None:
            await _check_metric(tx.repos, caller.project_id, policy.metric)
        if await tx.repos.policies.name_taken(group.id, body.name):
            raise PolicyNameTaken(f"The group has a policy named {body.name}.")
        await tx.repos.policies.add(policy)
        out = Outcome(group)
        out.payloads.append(
            ScalingPolicyCreated(group_id=group.id, policy_id=policy.id, name=policy.name, kind=policy.kind)
        )
        out.note("policy", f"policy {policy.name} ({policy.kind}) added by {caller.principal}")
        await write(tx, [out])
        return policy


async def list_policies(uow: ScalerUnitOfWork, caller: Identity, group_id: str) -> list[Policy]:
    async with uow.reading() as repos:
        group = await repos.groups.get(caller.project_id, group_id)
        if group is None:
            raise GroupNotFound(f"No scaling group {group_id} in this project.")
        return await repos.policies.of_groups([group.id])


async def get(uow: ScalerUnitOfWork, caller: Identity, group_id: str, policy_id: str) -> Policy:
    async with uow.reading() as repos:
        group = await repos.groups.get(caller.project_id, group_id)
        if group is None:
            raise GroupNotFound(f"No scaling group {group_id} in this project.")
        policy = await repos.policies.get(group.id, policy_id)
    if policy is None:
        raise PolicyNotFound(f"No policy {policy_id} in this scaling group.")
    return policy


async def delete(uow: ScalerUnitOfWork, caller: Identity, group_id: str, policy_id: str) -> None:
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        policy = await tx.repos.policies.get(group.id, policy_id)
        if policy is None:
            raise PolicyNotFound(f"No policy {policy_id} in this scaling group.")
        await tx.repos.policies.delete(policy)
        readings = {k: v for k, v in group.readings.items() if k != policy.id}
        streaks = {k: v for k, v in group.streaks.items() if k != policy.id}
        out = Outcome(replace(group, readings=readings, streaks=streaks))
        out.payloads.append(ScalingPolicyDeleted(group_id=group.id, policy_id=policy.id))
        out.note("policy", f"policy {policy.name} deleted by {caller.principal}")
        await write(tx, [out])
