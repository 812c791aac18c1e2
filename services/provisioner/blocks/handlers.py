"""The launch-block use cases: learning a budget's block or unblock from the billing service's events, checking a
launch against the blocks in force, and listing them. No FastAPI, no aio-pika."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from kernel.events import BudgetLaunchesBlocked, BudgetLaunchesUnblocked, Envelope
from kernel.keyset import PageRequest
from kernel.unit_of_work import Transaction, UnitOfWork
from services.provisioner.blocks import domain
from services.provisioner.blocks.domain import LaunchBlock
from services.provisioner.blocks.repository import BlockFilter, BlockRepository

log = logging.getLogger(__name__)


class BlockStore(Protocol):
    @property
    def launch_blocks(self) -> BlockRepository: ...


async def learn(
    tx: Transaction[BlockStore], envelope: Envelope, event: BudgetLaunchesBlocked | BudgetLaunchesUnblocked
) -> bool:
    """Record a budget's block or unblock in the consumer's transaction; False when a newer word on that budget was
    recorded already (the event was overtaken, or is a redelivery)."""
    block = LaunchBlock(
        project_id=envelope.project_id,
        budget_id=event.budget_id,
        budget_name=event.name,
        scope_kind=event.scope.kind,
        tag_key=event.scope.tag_key,
        tag_value=event.scope.tag_value,
        cluster_id=event.scope.cluster_id,
        period=event.period,
        reason=event.reason,
        blocked=isinstance(event, BudgetLaunchesBlocked),
        changed_at=envelope.occurred_at,
        event_id=str(envelope.id),
    )
    applied = await tx.repos.launch_blocks.apply(block)
    verb = "blocks" if block.blocked else "no longer blocks"
    if applied:
        log.info(
            "budget %s of project %s %s launches within %s", block.budget_id, block.project_id, verb, block.scope()
        )
    else:
        log.info(
            "budget %s of project %s: %s ignored, a newer one was applied",
            block.budget_id,
            block.project_id,
            envelope.type,
        )
    return applied


async def check_launch(
    repos: BlockStore, project_id: str, *, tags: Mapping[str, str], cluster_id: str | None = None
) -> None:
    """Refuse (409 `budget_exceeded`) a launch of the project that a block in force covers; one indexed read."""
    domain.check(await repos.launch_blocks.active(project_id), tags=tags, cluster_id=cluster_id)


async def blocking_launch(
    uow: UnitOfWork[BlockStore], project_id: str, *, tags: Mapping[str, str], cluster_id: str | None = None
) -> LaunchBlock | None:
    """The block in force that would refuse the launch (None: none would): what a dry run says instead of refusing."""
    async with uow.reading() as repos:
        return domain.blocking(await repos.launch_blocks.active(project_id), tags=tags, cluster_id=cluster_id)


async def check_launches(
    uow: UnitOfWork[BlockStore],
    project_id: str,
    launches: list[tuple[Mapping[str, str], str | None]],
) -> None:
    """`check_launch` for several launches (a cluster's roles) in one reading."""
    async with uow.reading() as repos:
        blocks = await repos.launch_blocks.active(project_id)
    for tags, cluster_id in launches:
        domain.check(blocks, tags=tags, cluster_id=cluster_id)


async def page(
    uow: UnitOfWork[BlockStore], flt: BlockFilter, request: PageRequest
) -> tuple[list[LaunchBlock], str | None]:
    async with uow.reading() as repos:
        return await repos.launch_blocks.page(flt, request)


__all__ = ["BlockStore", "blocking_launch", "check_launch", "check_launches", "learn", "page"]
