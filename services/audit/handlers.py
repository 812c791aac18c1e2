"""The audit's use cases: recording every event into the trail, reading a project's trail (or the platform's), and
verifying the hash chain. They reach the trail through the unit of work, so they run without a server in tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from kernel.events import Envelope
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Permission
from kernel.keyset import PageRequest
from kernel.pagination import Page
from kernel.unit_of_work import Transaction, UnitOfWork
from services.audit.domain import AuditRecord, EventFilter, Verification

__all__ = ["AuditRepositories", "AuditUnitOfWork", "EventStore", "Scope", "list_events", "record_event", "verify"]

# `project`: the caller's project's trail; `platform`: the events about the platform itself (PLATFORM_SCOPE).
Scope = Literal["project", "platform"]


class EventStore(Protocol):
    async def append(self, envelope: Envelope) -> bool: ...

    async def page(self, filters: EventFilter, request: PageRequest) -> Page[AuditRecord]: ...

    async def verify(self, chunk_size: int = ...) -> Verification: ...


class AuditRepositories(Protocol):
    @property
    def events(self) -> EventStore: ...


AuditUnitOfWork = UnitOfWork[AuditRepositories]


async def record_event(tx: Transaction[AuditRepositories], envelope: Envelope) -> None:
    """Append any event to the trail; the consumer's inbox already dropped redeliveries. Raises UnstorableEvent for
    an event the database cannot hold."""
    await tx.repos.events.append(envelope)


async def list_events(
    uow: AuditUnitOfWork,
    caller: Identity,
    paging: PageRequest,
    *,
    scope: Scope = "project",
    types: Sequence[str] = (),
    resource_id: str | None = None,
    correlation_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditRecord]:
    """A page of the caller's project's trail, or of the platform's (platform admins only)."""
    if scope == "platform":
        # A project's reader may read its trail; the platform's spans every project.
        caller.require(Permission.ADMIN)
    filters = EventFilter(
        project_id=PLATFORM_SCOPE if scope == "platform" else caller.project_id,
        types=tuple(types),
        resource_id=resource_id,
        correlation_id=correlation_id,
        since=since,
        until=until,
    )
    async with uow.reading() as repos:
        return await repos.events.page(filters, paging)


async def verify(uow: AuditUnitOfWork) -> Verification:
    """Whether the whole chain holds, and where it first breaks."""
    async with uow.reading() as repos:
        return await repos.events.verify()
