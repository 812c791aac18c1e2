"""The events table on one connection: appending to the chain, reading pages of it, and verifying it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime

import asyncpg

from kernel.audit_trail import Digest
from kernel.db import Connection
from kernel.events import ApiCalled, Envelope
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from kernel.pagination import Page
from services.audit.domain import (
    ENVELOPE_FIELDS,
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

__all__ = ["DIGEST_LISTING", "EVENT_LISTING", "DigestRepository", "EventRepository", "Repositories"]

_COLUMNS = (
    "seq, id, type, version, occurred_at, project_id, correlation_id, causation_id, subject, payload, "
    "received_at, prev_hash, hash, hash_version"
)

# The trail is read in the order events happened; seq (the order they were recorded) breaks ties.
EVENT_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM events", {"occurred_at": Column("occurred_at", "timestamptz")}, Column("seq", "bigint")
)


def _record(row: asyncpg.Record) -> AuditRecord:
    # model_construct: stored rows are what we hashed; a tampered row must still load so verify can report it.
    envelope = Envelope.model_construct(**{name: row[name] for name in ENVELOPE_FIELDS})
    return AuditRecord(
        seq=row["seq"],
        envelope=envelope,
        received_at=row["received_at"],
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
        hash_version=row["hash_version"],
    )


class EventRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def append(self, envelope: Envelope) -> bool:
        """Add `envelope` at the end of the chain; False when an event with its id is already stored."""
        conn = self._conn
        # A transaction of its own (a savepoint inside the caller's): the chain lock below must be held until the
        # row is written, even on a connection whose caller opened none.
        async with conn.transaction():
            # One appender at a time per schema, until commit: the next one must read the hash this one writes.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('audit-chain:' || current_schema()))")
            try:
                # Hash what the database will hand back (jsonb rewrites numbers, timestamps come back in UTC), so
                # verification recomputes exactly the same bytes. seq and received_at are hashed too, so they are
                # chosen here rather than left to the column defaults; received_at is read after the lock (a
                # transaction's now() is when it began), so it follows seq. A redelivery takes no seq.
                row = await conn.fetchrow(
                    "SELECT $1::jsonb AS payload, $2::timestamptz AS occurred_at, clock_timestamp() AS received_at,"
                    " (SELECT hash FROM events ORDER BY seq DESC LIMIT 1) AS prev,"
                    " CASE WHEN EXISTS (SELECT 1 FROM events WHERE id = $3) THEN NULL"
                    " ELSE nextval(pg_get_serial_sequence('events', 'seq')) END AS seq",
                    envelope.payload,
                    envelope.occurred_at,
                    envelope.id,
                )
                assert row is not None
                if row["seq"] is None:
                    return False
                normalized = {"payload": row["payload"], "occurred_at": row["occurred_at"]}
                stored = envelope.model_copy(update=normalized)
                prev = bytes(row["prev"]) if row["prev"] is not None else GENESIS
                digest = chain_hash(prev, stored, seq=row["seq"], received_at=row["received_at"])
            except (asyncpg.DataError, ValueError) as exc:
                raise UnstorableEvent(f"event {envelope.id} cannot be stored: {exc}") from exc
            await conn.execute(
                "INSERT INTO events (seq, id, type, version, occurred_at, project_id, correlation_id, causation_id,"
                " subject, payload, received_at, prev_hash, hash, hash_version)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                row["seq"],
                envelope.id,
                envelope.type,
                envelope.version,
                envelope.occurred_at,
                envelope.project_id,
                envelope.correlation_id,
                envelope.causation_id,
                envelope.subject,
                envelope.payload,
                row["received_at"],
                prev,
                digest,
                HASH_VERSION,
            )
            return True

    async def append_many(self, envelopes: Sequence[Envelope]) -> int:
        """Add `envelopes` at the end of the chain in their order, under one lock and in two statements (a batch of
        the bus's deliveries); those whose id is stored already (or came earlier in the batch) are skipped. The number
        added. Raises UnstorableEvent when any cannot be stored (then none is)."""
        conn = self._conn
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('audit-chain:' || current_schema()))")
            try:
                # As append does: hash what the database will hand back, seq and received_at chosen here.
                rows = await conn.fetch(
                    "SELECT t.payload::jsonb AS payload, t.occurred_at, EXISTS (SELECT 1 FROM events e WHERE e.id ="
                    " t.id) AS known FROM unnest($1::text[], $2::timestamptz[], $3::uuid[]) WITH ORDINALITY"
                    " AS t(payload, occurred_at, id, ord) ORDER BY t.ord",
                    [json.dumps(e.payload, allow_nan=False) for e in envelopes],
                    [e.occurred_at for e in envelopes],
                    [e.id for e in envelopes],
                )
            except (asyncpg.DataError, ValueError) as exc:
                raise UnstorableEvent(f"a batch of {len(envelopes)} events cannot be stored: {exc}") from exc
            seen: set[object] = set()
            fresh: list[tuple[Envelope, asyncpg.Record]] = []
            for envelope, row in zip(envelopes, rows, strict=True):
                if not row["known"] and envelope.id not in seen:
                    seen.add(envelope.id)
                    fresh.append((envelope, row))
            if not fresh:
                return 0
            head = await conn.fetchrow(
                "SELECT (SELECT hash FROM events ORDER BY seq DESC LIMIT 1) AS prev, clock_timestamp() AS received_at,"
                " (SELECT array_agg(nextval(pg_get_serial_sequence('events', 'seq'))) FROM generate_series(1, $1))"
                " AS seqs",
                len(fresh),
            )
            assert head is not None
            prev = bytes(head["prev"]) if head["prev"] is not None else GENESIS
            received_at, seqs = head["received_at"], sorted(head["seqs"])
            stored: list[tuple[Envelope, int, bytes, bytes]] = []
            try:
                for (envelope, row), seq in zip(fresh, seqs, strict=True):
                    normal = envelope.model_copy(update={"payload": row["payload"], "occurred_at": row["occurred_at"]})
                    digest = chain_hash(prev, normal, seq=seq, received_at=received_at)
                    stored.append((envelope, seq, prev, digest))
                    prev = digest
            except ValueError as exc:
                raise UnstorableEvent(f"a batch of {len(envelopes)} events cannot be stored: {exc}") from exc
            await conn.execute(
                "INSERT INTO events (seq, id, type, version, occurred_at, project_id, correlation_id, causation_id,"
                " subject, payload, received_at, prev_hash, hash, hash_version)"
                " SELECT seq, id, type, version, occurred_at, project_id, correlation_id, causation_id, subject,"
                " payload::jsonb, $11, prev_hash, hash, $14 FROM unnest($1::bigint[], $2::uuid[], $3::text[],"
                " $4::int[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],"
                " $12::bytea[], $13::bytea[]) AS t(seq, id, type, version, occurred_at, project_id, correlation_id,"
                " causation_id, subject, payload, prev_hash, hash)",
                [seq for _, seq, _, _ in stored],
                [e.id for e, _, _, _ in stored],
                [e.type for e, _, _, _ in stored],
                [e.version for e, _, _, _ in stored],
                [e.occurred_at for e, _, _, _ in stored],
                [e.project_id for e, _, _, _ in stored],
                [e.correlation_id for e, _, _, _ in stored],
                [e.causation_id for e, _, _, _ in stored],
                [e.subject for e, _, _, _ in stored],
                [json.dumps(e.payload, allow_nan=False) for e, _, _, _ in stored],
                received_at,
                [p for _, _, p, _ in stored],
                [h for _, _, _, h in stored],
                HASH_VERSION,
            )
            return len(stored)

    async def page(self, filters: EventFilter, request: PageRequest) -> Page[AuditRecord]:
        """One page of the events that `filters` selects, in the request's order."""
        where = (
            Where()
            .add("project_id = {}", filters.project_id)
            .given("type = ANY({}::text[])", filters.types)
            .given("subject = {}", filters.resource_id)
            .given("correlation_id = {}", filters.correlation_id)
            .given("occurred_at >= {}", filters.since)
            .given("occurred_at < {}", filters.until)
        )
        if filters.without_calls:
            where.add("type <> {}", ApiCalled.TYPE)
        if filters.calls_only:
            (
                where.add("type = {}", ApiCalled.TYPE)
                .given("payload->>'principal' = {}", filters.actor)
                .given("payload->>'method' = {}", filters.method.upper() if filters.method else None)
                .given("payload->>'status' = {}", None if filters.status is None else str(filters.status))
                .given("starts_with(payload->>'path', {})", filters.path)
            )
        items, next_cursor = await fetch_page(self._conn, EVENT_LISTING, where, request, _record)
        return Page[AuditRecord](items=items, next_cursor=next_cursor)

    async def verify(self, chunk_size: int = 1000) -> Verification:
        """Walk the whole chain in seq order, `chunk_size` records at a time; stop at the first broken link."""
        prev, checked = await self.anchor(), 0
        after: int | None = None
        while True:
            # The first chunk has no lower bound: a record whose seq was made zero or negative is still checked.
            if after is None:
                rows = await self._conn.fetch(f"SELECT {_COLUMNS} FROM events ORDER BY seq LIMIT $1", chunk_size)
            else:
                rows = await self._conn.fetch(
                    f"SELECT {_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", after, chunk_size
                )
            if not rows:
                return Verification(valid=True, checked=checked, first_invalid_seq=None)
            records = [_record(row) for row in rows]
            bad = verify_chain(records, prev)
            if bad is not None:
                checked += next(i for i, r in enumerate(records) if r.seq == bad) + 1
                return Verification(valid=False, checked=checked, first_invalid_seq=bad)
            checked += len(records)
            prev, after = records[-1].hash, records[-1].seq

    def snapshot(self) -> AbstractAsyncContextManager[object]:
        """One consistent view for the reads inside it (an export's records and digests)."""
        return self._conn.transaction(isolation="repeatable_read", readonly=True)

    async def anchor(self) -> bytes:
        """The hash the oldest record kept chains to: GENESIS, or after retention the hash a digest vouches for (a
        first record whose predecessor no digest vouches for fails verification at once)."""
        row = await self._conn.fetchrow(
            "SELECT e.prev_hash, EXISTS (SELECT 1 FROM digests d WHERE d.last_hash = e.prev_hash) AS anchored"
            " FROM events e ORDER BY seq LIMIT 1"
        )
        if row is None or not row["anchored"]:
            return GENESIS
        return bytes(row["prev_hash"])

    async def end(self) -> tuple[int, bytes] | None:
        """The seq and hash of the last record, None for an empty trail."""
        row = await self._conn.fetchrow("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return None if row is None else (row["seq"], bytes(row["hash"]))

    async def count_between(self, after: int, upto: int) -> int:
        count: int = await self._conn.fetchval("SELECT count(*) FROM events WHERE seq > $1 AND seq <= $2", after, upto)
        return count

    async def first_kept_after(self, cutoff: datetime) -> int | None:
        """The seq of the oldest record received at or after `cutoff`; None when every record is older."""
        seq: int | None = await self._conn.fetchval("SELECT min(seq) FROM events WHERE received_at >= $1", cutoff)
        return seq

    async def remove_upto(self, last_seq: int) -> int:
        """Remove the records up to `last_seq` (retention: the caller checked a digest vouches for it)."""
        await self._conn.execute("SELECT set_config('clanavi.audit_retention', 'on', true)")
        status = await self._conn.execute("DELETE FROM events WHERE seq <= $1", last_seq)
        await self._conn.execute("SELECT set_config('clanavi.audit_retention', 'off', true)")
        return int(status.split()[-1])

    async def stream(self, chunk_size: int = 1000) -> AsyncIterator[AuditRecord]:
        """Every record in seq order, `chunk_size` at a time."""
        after: int | None = None
        while True:
            if after is None:
                rows = await self._conn.fetch(f"SELECT {_COLUMNS} FROM events ORDER BY seq LIMIT $1", chunk_size)
            else:
                rows = await self._conn.fetch(
                    f"SELECT {_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", after, chunk_size
                )
            if not rows:
                return
            for row in rows:
                yield _record(row)
            after = rows[-1]["seq"]


_DIGEST_COLUMNS = (
    "number, created_at, last_seq, last_hash, record_count, previous_signature, signature, key_id, public_key"
)
DIGEST_LISTING = Listing(
    f"SELECT {_DIGEST_COLUMNS} FROM digests", {"number": Column("number", "bigint")}, Column("number", "bigint")
)


def _digest(row: asyncpg.Record) -> StoredDigest:
    previous = row["previous_signature"]
    return StoredDigest(
        Digest(
            number=row["number"],
            created_at=row["created_at"],
            last_seq=row["last_seq"],
            last_hash=bytes(row["last_hash"]),
            record_count=row["record_count"],
            previous_signature=None if previous is None else bytes(previous),
            signature=bytes(row["signature"]),
            key_id=row["key_id"],
        ),
        public_key=row["public_key"],
    )


class DigestRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self) -> None:
        """One digest maker at a time across replicas, until the transaction ends."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('audit-digest:' || current_schema()))")

    async def latest(self) -> StoredDigest | None:
        row = await self._conn.fetchrow(f"SELECT {_DIGEST_COLUMNS} FROM digests ORDER BY number DESC LIMIT 1")
        return None if row is None else _digest(row)

    async def latest_before(self, seq: int) -> StoredDigest | None:
        """The newest digest over records before `seq` (that vouches for a record retention may remove)."""
        row = await self._conn.fetchrow(
            f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE last_seq < $1 AND last_seq > 0"
            " ORDER BY last_seq DESC, number DESC LIMIT 1",
            seq,
        )
        return None if row is None else _digest(row)

    async def add(self, digest: StoredDigest) -> None:
        d = digest.digest
        await self._conn.execute(
            f"INSERT INTO digests ({_DIGEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            d.number,
            d.created_at,
            d.last_seq,
            d.last_hash,
            d.record_count,
            d.previous_signature,
            d.signature,
            d.key_id,
            digest.public_key,
        )

    async def page(self, request: PageRequest) -> Page[StoredDigest]:
        items, next_cursor = await fetch_page(self._conn, DIGEST_LISTING, Where(), request, _digest)
        return Page[StoredDigest](items=items, next_cursor=next_cursor)

    async def all(self) -> list[StoredDigest]:
        rows = await self._conn.fetch(f"SELECT {_DIGEST_COLUMNS} FROM digests ORDER BY number")
        return [_digest(row) for row in rows]


class Repositories:
    """The audit's repositories on one connection, as its unit of work hands them to the use cases."""

    def __init__(self, conn: Connection) -> None:
        self.events = EventRepository(conn)
        self.digests = DigestRepository(conn)
