"""The audit trail in memory (services.audit.handlers.EventStore), chained and verified by the domain's own rules, and
refusing what PostgreSQL refuses to store (a NUL character in text, NaN or an infinity in a number)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from kernel.events import Envelope
from kernel.keyset import PageRequest
from kernel.pagination import Page
from kernel.unit_of_work import FakeUnitOfWork
from services.audit.domain import (
    GENESIS,
    HASH_VERSION,
    AuditRecord,
    EventFilter,
    StoredDigest,
    UnstorableEvent,
    Verification,
    chain_hash,
    verify_chain,
)
from services.audit.handlers import AuditRepositories
from tests.fakes.paging import page

__all__ = ["FakeAuditRepositories", "FakeDigestStore", "FakeEventStore", "fake_audit", "records", "tamper"]


class FakeEventStore:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, envelope: Envelope) -> bool:
        if any(r.envelope.id == envelope.id for r in self.records):
            return False
        try:
            text = json.dumps(envelope.payload, allow_nan=False)
        except ValueError as exc:
            raise UnstorableEvent(f"event {envelope.id} cannot be stored: {exc}") from exc
        if "\\u0000" in text:
            raise UnstorableEvent(f"event {envelope.id} cannot be stored: a NUL character")
        seq = len(self.records) + 1
        received_at = datetime.now(UTC) + timedelta(microseconds=seq)
        prev = self.records[-1].hash if self.records else GENESIS
        digest = chain_hash(prev, envelope, seq=seq, received_at=received_at)
        self.records.append(AuditRecord(seq, envelope, received_at, prev, digest, HASH_VERSION))
        return True

    async def append_many(self, envelopes: Sequence[Envelope]) -> int:
        kept = list(self.records)
        try:
            added = [await self.append(envelope) for envelope in envelopes]
        except UnstorableEvent:
            self.records = kept  # none of the batch is stored
            raise
        return sum(added)

    async def page(self, filters: EventFilter, request: PageRequest) -> Page[AuditRecord]:
        selected = [r for r in self.records if _selects(filters, r.envelope)]
        items, next_cursor = page(selected, request, {"occurred_at": lambda r: r.envelope.occurred_at}, lambda r: r.seq)
        return Page[AuditRecord](items=items, next_cursor=next_cursor)

    def snapshot(self) -> AbstractAsyncContextManager[object]:
        return contextlib.nullcontext(object())

    async def anchor(self) -> bytes:
        return self.records[0].prev_hash if self.records else GENESIS

    async def end(self) -> tuple[int, bytes] | None:
        return (self.records[-1].seq, self.records[-1].hash) if self.records else None

    async def count_between(self, after: int, upto: int) -> int:
        return sum(1 for r in self.records if after < r.seq <= upto)

    async def first_kept_after(self, cutoff: datetime) -> int | None:
        return min((r.seq for r in self.records if r.received_at >= cutoff), default=None)

    async def remove_upto(self, last_seq: int) -> int:
        kept = [r for r in self.records if r.seq > last_seq]
        removed, self.records = len(self.records) - len(kept), kept
        return removed

    async def stream(self, chunk_size: int = 1000) -> AsyncIterator[AuditRecord]:
        for record in list(self.records):
            yield record

    async def verify(self, chunk_size: int = 1000) -> Verification:
        bad = verify_chain(self.records, await self.anchor())
        if bad is None:
            return Verification(True, len(self.records), None)
        checked = next(i for i, r in enumerate(self.records) if r.seq == bad) + 1
        return Verification(False, checked, bad)


def _selects(filters: EventFilter, envelope: Envelope) -> bool:
    return (
        envelope.project_id == filters.project_id
        and (not filters.types or envelope.type in filters.types)
        and (filters.resource_id is None or envelope.subject == filters.resource_id)
        and (filters.correlation_id is None or envelope.correlation_id == filters.correlation_id)
        and (filters.since is None or envelope.occurred_at >= filters.since)
        and (filters.until is None or envelope.occurred_at < filters.until)
        and (not filters.calls_only or _call_selected(filters, envelope))
        and not (filters.without_calls and envelope.type == "api.called")
    )


def _call_selected(filters: EventFilter, envelope: Envelope) -> bool:
    call = envelope.payload
    return (
        envelope.type == "api.called"
        and (filters.actor is None or call.get("principal") == filters.actor)
        and (filters.method is None or call.get("method") == filters.method.upper())
        and (filters.status is None or call.get("status") == filters.status)
        and (filters.path is None or str(call.get("path", "")).startswith(filters.path))
    )


class FakeDigestStore:
    def __init__(self) -> None:
        self.digests: list[StoredDigest] = []

    async def lock(self) -> None:
        return None

    async def latest(self) -> StoredDigest | None:
        return self.digests[-1] if self.digests else None

    async def latest_before(self, seq: int) -> StoredDigest | None:
        before = [d for d in self.digests if 0 < d.digest.last_seq < seq]
        return max(before, key=lambda d: d.digest.last_seq) if before else None

    async def add(self, digest: StoredDigest) -> None:
        self.digests.append(digest)

    async def page(self, request: PageRequest) -> Page[StoredDigest]:
        items, next_cursor = page(
            self.digests, request, {"number": lambda d: d.digest.number}, lambda d: d.digest.number
        )
        return Page[StoredDigest](items=items, next_cursor=next_cursor)

    async def all(self) -> list[StoredDigest]:
        return list(self.digests)


class FakeAuditRepositories:
    def __init__(self) -> None:
        self.events = FakeEventStore()
        self.digests = FakeDigestStore()


def fake_audit() -> FakeUnitOfWork[AuditRepositories]:
    return FakeUnitOfWork[AuditRepositories](FakeAuditRepositories())


def records(uow: FakeUnitOfWork[AuditRepositories]) -> list[AuditRecord]:
    """The trail as the last committed transaction left it."""
    repos = uow.repos
    assert isinstance(repos, FakeAuditRepositories)
    return repos.events.records


def tamper(uow: FakeUnitOfWork[AuditRepositories], seq: int, **changes: object) -> None:
    """Change a stored event's envelope behind the chain's back."""
    trail = records(uow)
    record = trail[seq - 1]
    trail[seq - 1] = dataclasses.replace(record, envelope=record.envelope.model_copy(update=changes))
