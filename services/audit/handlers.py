"""The audit's use cases: recording every event into the trail, reading a project's trail (or the platform's), and
verifying the hash chain. They reach the trail through the unit of work, so they run without a server in tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.audit_trail import EXPORT_FORMAT, GENESIS, public_key_pem, sign_digest, utc_text
from kernel.events import Envelope
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Permission
from kernel.keyset import PageRequest
from kernel.pagination import Page
from kernel.unit_of_work import Transaction, UnitOfWork
from services.audit.domain import AuditRecord, Calls, EventFilter, StoredDigest, Verification, stored_fields

__all__ = [
    "AuditRepositories",
    "AuditUnitOfWork",
    "DigestStore",
    "EventStore",
    "Scope",
    "apply_retention",
    "export",
    "export_line",
    "list_digests",
    "list_events",
    "make_digest",
    "record_event",
    "record_events",
    "verify",
]

# `project`: the caller's project's trail; `platform`: the events about the platform itself (PLATFORM_SCOPE).
Scope = Literal["project", "platform"]


class EventStore(Protocol):
    async def append(self, envelope: Envelope) -> bool: ...

    async def append_many(self, envelopes: Sequence[Envelope]) -> int: ...

    async def page(self, filters: EventFilter, request: PageRequest) -> Page[AuditRecord]: ...

    async def verify(self, chunk_size: int = ...) -> Verification: ...

    def snapshot(self) -> AbstractAsyncContextManager[object]: ...

    async def anchor(self) -> bytes: ...

    async def end(self) -> tuple[int, bytes] | None: ...

    async def count_between(self, after: int, upto: int) -> int: ...

    async def first_kept_after(self, cutoff: datetime) -> int | None: ...

    async def remove_upto(self, last_seq: int) -> int: ...

    def stream(self, chunk_size: int = ...) -> AsyncIterator[AuditRecord]: ...


class DigestStore(Protocol):
    async def lock(self) -> None: ...

    async def latest(self) -> StoredDigest | None: ...

    async def latest_before(self, seq: int) -> StoredDigest | None: ...

    async def add(self, digest: StoredDigest) -> None: ...

    async def page(self, request: PageRequest) -> Page[StoredDigest]: ...

    async def all(self) -> list[StoredDigest]: ...


class AuditRepositories(Protocol):
    @property
    def events(self) -> EventStore: ...

    @property
    def digests(self) -> DigestStore: ...


AuditUnitOfWork = UnitOfWork[AuditRepositories]


async def record_event(tx: Transaction[AuditRepositories], envelope: Envelope) -> None:
    """Append any event to the trail; the consumer's inbox already dropped redeliveries. Raises UnstorableEvent for
    an event the database cannot hold."""
    await tx.repos.events.append(envelope)


async def record_events(tx: Transaction[AuditRepositories], envelopes: Sequence[Envelope]) -> None:
    """Append a batch of the bus's deliveries in one go (the inbox dropped redeliveries). Raises UnstorableEvent when
    any cannot be stored: the consumer then records them one by one, so that one bad event fails alone."""
    await tx.repos.events.append_many(envelopes)


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
    calls: Calls = "exclude",
    actor: str | None = None,
    method: str | None = None,
    status: int | None = None,
    path: str | None = None,
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
        calls=calls,
        actor=actor,
        method=method,
        status=status,
        path=path,
    )
    async with uow.reading() as repos:
        return await repos.events.page(filters, paging)


async def verify(uow: AuditUnitOfWork) -> Verification:
    """Whether the whole chain holds, and where it first breaks."""
    async with uow.reading() as repos:
        return await repos.events.verify()


async def make_digest(uow: AuditUnitOfWork, key: Ed25519PrivateKey, now: datetime) -> StoredDigest | None:
    """Sign the chain's end, unless it has not moved since the last digest. One replica at a time."""
    async with uow.transaction() as tx:
        await tx.repos.digests.lock()
        previous = await tx.repos.digests.latest()
        end = await tx.repos.events.end()
        last_seq, last_hash = end if end is not None else (0, GENESIS)
        if previous is not None and previous.digest.last_seq == last_seq:
            return None
        after = previous.digest.last_seq if previous is not None else 0
        grown = await tx.repos.events.count_between(after, last_seq)
        digest = StoredDigest(
            sign_digest(
                key,
                number=previous.digest.number + 1 if previous is not None else 1,
                created_at=now,
                last_seq=last_seq,
                last_hash=last_hash,
                record_count=(previous.digest.record_count if previous is not None else 0) + grown,
                previous_signature=previous.digest.signature if previous is not None else None,
            ),
            public_key=public_key_pem(key),
        )
        await tx.repos.digests.add(digest)
        return digest


async def apply_retention(uow: AuditUnitOfWork, cutoff: datetime) -> int:
    """Remove the records received before `cutoff`, up to the newest record a digest vouches for (so the oldest kept
    record's predecessor stays anchored); the number removed."""
    async with uow.transaction() as tx:
        await tx.repos.digests.lock()
        kept = await tx.repos.events.first_kept_after(cutoff)
        end = await tx.repos.events.end()
        if end is None:
            return 0
        # The last record always stays: the next one appended chains to its hash.
        bound = min(kept, end[0]) if kept is not None else end[0]
        anchor = await tx.repos.digests.latest_before(bound)
        if anchor is None:
            return 0
        return await tx.repos.events.remove_upto(anchor.digest.last_seq)


async def list_digests(uow: AuditUnitOfWork, paging: PageRequest) -> Page[StoredDigest]:
    async with uow.reading() as repos:
        return await repos.digests.page(paging)


async def export(uow: AuditUnitOfWork, public_key: str, now: datetime) -> AsyncIterator[str]:
    """The whole trail as JSON lines (kernel.audit_trail's export format): a header, every record in seq order with
    its hashes, then every digest; read in one snapshot, so the digests match the records."""
    async with uow.reading() as repos, repos.events.snapshot():
        digests = await repos.digests.all()
        anchor = await repos.events.anchor()
        anchored_by = next((d.digest.number for d in digests if d.digest.last_hash == anchor), None)
        header = {
            "kind": "header",
            "format": EXPORT_FORMAT,
            "exported_at": utc_text(now),
            "public_key": public_key,
            # After retention the first record chains to a hash this digest signed; the records before are gone.
            "retention": {"records_removed": anchored_by is not None, "anchored_by_digest": anchored_by},
        }
        yield json.dumps(header) + "\n"
        async for record in repos.events.stream():
            yield json.dumps(export_line(record)) + "\n"
        for stored in digests:
            yield json.dumps({"kind": "digest", **stored.digest.to_json(), "public_key": stored.public_key}) + "\n"


def export_line(record: AuditRecord) -> dict[str, Any]:
    fields = stored_fields(record.envelope, seq=record.seq, received_at=record.received_at)
    return {
        "kind": "record",
        **fields,
        "id": str(fields["id"]),
        "occurred_at": utc_text(fields["occurred_at"]),
        "received_at": utc_text(record.received_at),
        "prev_hash": record.prev_hash.hex(),
        "hash": record.hash.hex(),
        "hash_version": record.hash_version,
    }
