"""The audit store on a real PostgreSQL: appending, querying, append-only triggers, chain verification."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from devstack import PostgresServer, free_port
from kernel import db
from kernel.consumer import EventConsumer, PermanentFailure
from kernel.errors import ValidationFailed
from kernel.events import Envelope
from kernel.keyset import Order, PageRequest
from kernel.migrations import migrate
from kernel.pagination import Page, encode_cursor
from kernel.unit_of_work import PostgresUnitOfWork
from services.audit.app import MIGRATIONS
from services.audit.consumers import on_event
from services.audit.domain import (
    HASH_VERSION,
    HASHED_FIELDS,
    AuditRecord,
    EventFilter,
    UnstorableEvent,
    Verification,
    chain_hash,
)
from services.audit.handlers import AuditRepositories
from services.audit.repository import EventRepository, Repositories

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def audit_pg() -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-audit-"))
    root.chmod(0o755)  # as root the server runs as `postgres`, which must reach its directory
    server = PostgresServer(root=root / "pg", port=free_port(), durable=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def audit_url(audit_pg: PostgresServer) -> Iterator[str]:
    name = f"audit_{uuid.uuid4().hex[:12]}"
    audit_pg.create_database(name)
    url = audit_pg.admin_url(name)
    migrate(url, schema="audit", location=MIGRATIONS)
    yield url
    audit_pg.drop_database(name)


@pytest.fixture
async def pool(audit_url: str) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(audit_url, schema="audit", application="audit-tests", min_size=1, max_size=8)
    yield pool
    await pool.close()


def event(n: int = 0, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "type": "instance.launched",
        "version": 1,
        "occurred_at": T0 + timedelta(seconds=n),
        "project_id": "p1",
        "correlation_id": f"corr-{n}",
        "subject": f"i-{n}",
        "payload": {"n": n},
    }
    fields.update(changes)
    return Envelope.model_validate(fields)


def consumer(pool: db.Pool) -> EventConsumer[AuditRepositories]:
    return EventConsumer(
        PostgresUnitOfWork[AuditRepositories](lambda: pool, Repositories), name="audit", handle=on_event
    )


async def store(pool: db.Pool, *envelopes: Envelope) -> None:
    for env in envelopes:
        async with pool.acquire() as conn:
            assert await EventRepository(conn).append(env)


async def query(pool: db.Pool, filters: EventFilter, request: PageRequest) -> Page[AuditRecord]:
    async with pool.acquire() as conn:
        return await EventRepository(conn).page(filters, request)


async def verify(pool: db.Pool, chunk_size: int = 1000) -> Verification:
    async with pool.acquire() as conn:
        return await EventRepository(conn).verify(chunk_size)


async def ids(pool: db.Pool, order: Order = "asc", **filters: Any) -> list[uuid.UUID]:
    page = await query(pool, EventFilter(**{"project_id": "p1", **filters}), PageRequest(500, order=order))
    assert page.next_cursor is None
    return [r.envelope.id for r in page.items]


async def walk(pool: db.Pool, filters: EventFilter, limit: int, order: Order = "asc") -> list[AuditRecord]:
    items: list[AuditRecord] = []
    cursor: str | None = None
    while True:
        # Only the first page names the order: the cursor carries it on.
        page = await query(pool, filters, PageRequest(limit, cursor, order=order if cursor is None else "asc"))
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


async def test_appended_events_come_back_as_they_were_sent(pool: db.Pool) -> None:
    env = event(1, causation_id="cause-1", payload={"name": "web", "tags": ["a", "b"], "size": {"cpu": 2}})
    await store(pool, env)
    page = await query(pool, EventFilter(project_id="p1"), PageRequest(50))
    [record] = page.items
    assert record.envelope.model_dump() == env.model_dump()
    assert record.seq >= 1 and len(record.hash) == 32 and record.prev_hash == bytes(32)
    assert record.received_at.tzinfo is not None and record.hash_version == HASH_VERSION


async def test_every_filter(pool: db.Pool) -> None:
    launched = event(1, correlation_id="req-a")
    stopped = event(2, type="instance.stopped", subject="i-1", correlation_id="req-a")
    other = event(3, type="instance.terminated", subject="i-9", correlation_id="req-b")
    elsewhere = event(4, project_id="p2", subject="i-1", correlation_id="req-a")
    no_subject = event(5, type="cloud.added", subject=None, correlation_id="req-c")
    await store(pool, launched, stopped, other, elsewhere, no_subject)

    assert await ids(pool) == [launched.id, stopped.id, other.id, no_subject.id]
    assert await ids(pool, types=("instance.stopped",)) == [stopped.id]
    assert await ids(pool, types=("instance.stopped", "cloud.added")) == [stopped.id, no_subject.id]
    assert await ids(pool, types=("instance",)) == []  # exact types, no prefixes
    assert await ids(pool, resource_id="i-1") == [launched.id, stopped.id]
    assert await ids(pool, correlation_id="req-a") == [launched.id, stopped.id]
    assert await ids(pool, project_id="p2") == [elsewhere.id]
    # since is inclusive, until exclusive.
    assert await ids(pool, since=T0 + timedelta(seconds=2)) == [stopped.id, other.id, no_subject.id]
    assert await ids(pool, until=T0 + timedelta(seconds=2)) == [launched.id]
    assert await ids(pool, since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=3)) == [stopped.id]
    found = await ids(pool, resource_id="i-1", types=("instance.launched",), correlation_id="req-a")
    assert found == [launched.id]
    assert await ids(pool, order="desc") == [no_subject.id, other.id, stopped.id, launched.id]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_pages_join_without_gaps_or_repeats(pool: db.Pool, order: Order) -> None:
    # Several events share a timestamp and arrive out of time order: seq must break the ties.
    envelopes = [event(n, occurred_at=T0 + timedelta(seconds=(n * 7) % 5)) for n in range(23)]
    await store(pool, *envelopes)
    everything = (await query(pool, EventFilter(project_id="p1"), PageRequest(500, order=order))).items
    keys = [(r.envelope.occurred_at, r.seq) for r in everything]
    assert keys == sorted(keys, reverse=order == "desc") and len(keys) == 23

    paged = await walk(pool, EventFilter(project_id="p1"), limit=4, order=order)
    assert [r.seq for r in paged] == [r.seq for r in everything]

    # An event recorded between two pages shows up on a later one when it sorts after the cursor.
    filters = EventFilter(project_id="p1")
    first = await query(pool, filters, PageRequest(5))
    await store(pool, event(99, occurred_at=T0 + timedelta(hours=1)))
    rest: list[AuditRecord] = []
    cursor = first.next_cursor
    while cursor is not None:
        page = await query(pool, filters, PageRequest(5, cursor))
        rest += page.items
        cursor = page.next_cursor
    now = (await query(pool, filters, PageRequest(500))).items
    assert [r.seq for r in first.items + rest] == [r.seq for r in now] and len(now) == 24


async def test_bad_cursors_are_refused(pool: db.Pool) -> None:
    await store(pool, *(event(n) for n in range(3)))
    page = await query(pool, EventFilter(project_id="p1"), PageRequest(1))
    assert page.next_cursor is not None
    # A cursor continues its own walk whatever order the request names.
    following = await query(pool, EventFilter(project_id="p1"), PageRequest(1, page.next_cursor, order="desc"))
    assert following.items[0].seq > page.items[0].seq
    for cursor in (
        "garbage!",
        encode_cursor("occurred_at", "asc", "not a time", 1),
        encode_cursor("occurred_at", "sideways", T0.isoformat(), 1),
        encode_cursor("seq", "asc", 1, 1),
        encode_cursor("occurred_at", "asc", T0.isoformat(), "1"),
        encode_cursor("occurred_at", "asc", "2026-01-01T00:00:00", 1),  # no offset: not one this API wrote
        "WzFd",
    ):
        with pytest.raises(ValidationFailed):
            await query(pool, EventFilter(project_id="p1"), PageRequest(1, cursor))


async def test_events_cannot_be_updated_deleted_or_truncated(pool: db.Pool) -> None:
    await store(pool, event(1))
    async with pool.acquire() as conn:
        for sql in (
            "UPDATE events SET payload = '{}'",
            "DELETE FROM events",
            "TRUNCATE events",
            "DELETE FROM events WHERE false",
        ):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM events") == 1


async def tamper(pool: db.Pool, sql: str, *args: Any) -> None:
    """Change the trail the way only a superuser can: with the guard trigger switched off."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete")


async def test_verify_detects_a_changed_row(pool: db.Pool) -> None:
    empty = Verification(valid=True, checked=0, first_invalid_seq=None)
    assert await verify(pool) == empty
    await store(pool, *(event(n) for n in range(7)))
    assert await verify(pool, chunk_size=3) == Verification(True, 7, None)
    await tamper(pool, "UPDATE events SET payload = '{\"n\": 99}' WHERE seq = 5")
    assert await verify(pool, chunk_size=3) == Verification(False, 5, 5)
    assert await verify(pool, chunk_size=1000) == Verification(False, 5, 5)


# One edit per stored column of the record at seq 3, and the seq verification must report. The trail holds seqs
# 1, 2, 3, 5, 6, so moving the record to seq 4 keeps the order the chain is walked in.
COLUMN_EDITS = {
    "seq": ("seq + 1", 4),
    "id": ("'00000000-0000-0000-0000-0000000000ff'", 3),
    "type": ("type || '_x'", 3),
    "version": ("version + 1", 3),
    "occurred_at": ("occurred_at + interval '1 microsecond'", 3),
    "project_id": ("'p2'", 3),
    "correlation_id": ("correlation_id || 'x'", 3),
    "causation_id": ("'cause-x'", 3),
    "subject": ("NULL", 3),
    "payload": ("payload || '{\"x\": 1}'", 3),
    "received_at": ("received_at + interval '1 microsecond'", 3),
    "prev_hash": ("sha256(prev_hash)", 3),
    "hash": ("sha256(hash)", 3),
    "hash_version": ("1", 3),
}


async def events_columns(pool: db.Pool) -> set[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'events'"
        )
    return {row["column_name"] for row in rows}


async def test_every_stored_column_is_hashed_and_tried_below(pool: db.Pool) -> None:
    columns = await events_columns(pool)
    # prev_hash is the prefix of what is hashed; the hash cannot cover itself.
    assert columns == {*HASHED_FIELDS[HASH_VERSION], "prev_hash", "hash"}
    assert columns == set(COLUMN_EDITS)


@pytest.mark.parametrize("column", list(COLUMN_EDITS))
async def test_verify_detects_a_change_to_any_stored_column(pool: db.Pool, column: str) -> None:
    await store(pool, *(event(n) for n in range(3)))
    async with pool.acquire() as conn:
        await conn.execute("SELECT nextval(pg_get_serial_sequence('events', 'seq'))")
    await store(pool, *(event(n) for n in range(3, 5)))
    assert await verify(pool, chunk_size=2) == Verification(True, 5, None)

    value, broken_at = COLUMN_EDITS[column]
    await tamper(pool, f"UPDATE events SET {column} = {value} WHERE seq = 3")
    assert await verify(pool, chunk_size=2) == Verification(False, 3, broken_at)
    assert await verify(pool) == Verification(False, 3, broken_at)


async def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(pool: db.Pool) -> None:
    await store(pool, *(event(n) for n in range(4)))
    page = await query(pool, EventFilter(project_id="p1"), PageRequest(50))
    second = page.items[1]
    later = second.received_at + timedelta(seconds=30)
    digest = chain_hash(second.prev_hash, second.envelope, seq=second.seq, received_at=later)
    await tamper(pool, "UPDATE events SET received_at = $1, hash = $2 WHERE seq = $3", later, digest, second.seq)
    assert await verify(pool) == Verification(False, 3, page.items[2].seq)


async def test_a_record_moved_below_seq_1_is_still_checked(pool: db.Pool) -> None:
    await store(pool, *(event(n) for n in range(3)))
    await tamper(pool, "UPDATE events SET seq = -1 WHERE seq = 1")
    assert await verify(pool) == Verification(False, 1, -1)


async def test_verify_detects_a_removed_row(pool: db.Pool) -> None:
    await store(pool, *(event(n) for n in range(5)))
    await tamper(pool, "DELETE FROM events WHERE seq = 3")
    # The row after the gap no longer follows from the one before it.
    assert await verify(pool, chunk_size=2) == Verification(False, 3, 4)


async def test_hashes_survive_the_round_trip_through_jsonb_and_timestamptz(pool: db.Pool) -> None:
    plus_five = timezone(timedelta(hours=5, minutes=30))
    awkward = event(
        1,
        occurred_at=datetime(2024, 5, 1, 17, 30, 0, 123456, tzinfo=plus_five),
        payload={
            "big": 1e20,
            "tiny": 1.5e-10,
            "float": 2.50,
            "text": 'naïve ☃ "quoted"',
            "none": None,
            "nested": {"z": [1, {"b": True, "a": False}], "a": -0.0},
        },
    )
    await store(pool, awkward, event(2))
    assert (await verify(pool)).valid


async def test_an_unstorable_event_fails_permanently_and_stores_nothing(pool: db.Pool) -> None:
    audit = consumer(pool)
    with pytest.raises(PermanentFailure):
        await audit.handle_delivery(event(1, payload={"text": "nul \x00 byte"}))
    assert await audit.handle_delivery(event(2))
    assert await verify(pool) == Verification(True, 1, None)


async def test_the_consumer_records_a_duplicate_delivery_once(pool: db.Pool) -> None:
    audit = consumer(pool)
    env = event(1)
    assert await audit.handle_delivery(env) is True
    assert await audit.handle_delivery(env) is False
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE id = $1", env.id) == 1


async def test_append_skips_an_event_it_already_holds(pool: db.Pool) -> None:
    # The inbox may have been pruned since the first delivery; the events table still knows the id.
    env = event(1)
    async with pool.acquire() as conn:
        assert await EventRepository(conn).append(env) is True
        assert await EventRepository(conn).append(env) is False
    assert await verify(pool) == Verification(True, 1, None)


async def test_concurrent_deliveries_append_one_at_a_time(pool: db.Pool) -> None:
    audit = consumer(pool)
    results = await asyncio.gather(*(audit.handle_delivery(event(n)) for n in range(40)))
    assert all(results)
    assert await verify(pool, chunk_size=7) == Verification(True, 40, None)


# --- records stored before migration 0002 ------------------------------------------------------------------------


def v1_canonical(envelope: Envelope) -> bytes:
    """The bytes the service hashed before migration 0002 (a copy of that release's code): the envelope only."""
    fields: dict[str, Any] = {
        "id": str(envelope.id),
        "type": envelope.type,
        "version": envelope.version,
        "occurred_at": envelope.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "project_id": envelope.project_id,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "subject": envelope.subject,
        "payload": envelope.payload,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


async def append_v1(conn: db.Connection, envelope: Envelope) -> None:
    """Append as the release before migration 0002 did, which also runs beside the new one during a rolling upgrade:
    it names neither seq, received_at nor hash_version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('audit-chain:' || current_schema()))")
        row = await conn.fetchrow(
            "SELECT $1::jsonb AS payload, $2::timestamptz AS occurred_at,"
            " (SELECT hash FROM events ORDER BY seq DESC LIMIT 1) AS prev",
            envelope.payload,
            envelope.occurred_at,
        )
        assert row is not None
        stored = envelope.model_copy(update={"payload": row["payload"], "occurred_at": row["occurred_at"]})
        prev = bytes(row["prev"]) if row["prev"] is not None else bytes(32)
        await conn.execute(
            "INSERT INTO events (id, type, version, occurred_at, project_id, correlation_id, causation_id,"
            " subject, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            envelope.id,
            envelope.type,
            envelope.version,
            envelope.occurred_at,
            envelope.project_id,
            envelope.correlation_id,
            envelope.causation_id,
            envelope.subject,
            envelope.payload,
            prev,
            hashlib.sha256(prev + v1_canonical(stored)).digest(),
        )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    config.attributes["schema"] = "audit"
    return config


@pytest.fixture
def url_at_0001(audit_pg: PostgresServer) -> Iterator[str]:
    """A trail whose schema is at revision 0001, as databases were before hash versions existed."""
    name = f"audit_{uuid.uuid4().hex[:12]}"
    audit_pg.create_database(name)
    url = audit_pg.admin_url(name)
    migrate(url, schema="audit", location=MIGRATIONS, revision="0001")
    yield url
    audit_pg.drop_database(name)


async def test_records_stored_before_hash_versions_still_verify_and_chain_on(url_at_0001: str) -> None:
    awkward = event(2, causation_id="cause", payload={"big": 1e20, "text": 'naïve ☃ "q"', "nested": {"z": [1], "a": 0}})
    old = await db.create_pool(url_at_0001, schema="audit", application="audit-tests", min_size=1, max_size=1)
    try:
        async with old.acquire() as conn:
            for env in (event(1), awkward, event(3, subject=None)):
                await append_v1(conn, env)
    finally:
        await old.close()

    await asyncio.to_thread(migrate, url_at_0001, schema="audit", location=MIGRATIONS)
    pool = await db.create_pool(url_at_0001, schema="audit", application="audit-tests", min_size=1, max_size=4)
    try:
        await check_across_the_upgrade(pool)
    finally:
        await pool.close()


async def check_across_the_upgrade(pool: db.Pool) -> None:
    assert await verify(pool) == Verification(True, 3, None)

    await store(pool, event(4), event(5))
    async with pool.acquire() as conn:
        await append_v1(conn, event(6))  # a replica of the previous release, during a rolling upgrade
    await store(pool, event(7))
    records = await walk(pool, EventFilter(project_id="p1"), limit=50)
    assert [r.hash_version for r in records] == [1, 1, 1, 2, 2, 1, 2]
    assert records[3].prev_hash == records[2].hash
    assert await verify(pool, chunk_size=2) == Verification(True, 7, None)

    # Old records' envelopes stay covered, and so does the rule each record names.
    await tamper(pool, "UPDATE events SET hash_version = 2 WHERE seq = $1", records[1].seq)
    assert await verify(pool) == Verification(False, 2, records[1].seq)
    await tamper(pool, "UPDATE events SET hash_version = 1 WHERE seq = $1", records[1].seq)
    await tamper(pool, "UPDATE events SET subject = 'i-x' WHERE seq = $1", records[0].seq)
    assert await verify(pool) == Verification(False, 1, records[0].seq)


async def test_migrations_keep_the_trail_append_only_and_refuse_to_downgrade(audit_url: str, pool: db.Pool) -> None:
    await store(pool, event(1))
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE events SET hash_version = 1")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO events (id, type, version, occurred_at, project_id, correlation_id,"
                " payload, prev_hash, hash, hash_version)"
                " SELECT gen_random_uuid(), type, version, occurred_at, project_id, correlation_id,"
                " payload, hash, hash, 3 FROM events"
            )
    for revision in ("0001", "base"):
        with pytest.raises(CommandError, match="never dropped"):
            await asyncio.to_thread(command.downgrade, alembic_config(audit_url), revision)
    assert await verify(pool) == Verification(True, 1, None)


async def test_a_batch_appends_in_order_after_single_appends_and_skips_known_ids(pool: db.Pool) -> None:
    first = event(1, payload={"price": 0.1, "big": 10**20, "text": "ünï", "nested": {"b": 1, "a": [1.5, None]}})
    await store(pool, first)
    batch = [event(2), first, event(3, occurred_at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))]
    batch.append(batch[0])  # the same event twice in one batch
    async with pool.acquire() as conn:
        assert await EventRepository(conn).append_many(batch) == 2
        assert await EventRepository(conn).append_many([first]) == 0
    last = event(4)
    await store(pool, last)
    async with pool.acquire() as conn:
        in_chain = [row["id"] for row in await conn.fetch("SELECT id FROM events ORDER BY seq")]
    assert in_chain == [first.id, batch[0].id, batch[2].id, last.id]
    assert await verify(pool) == Verification(valid=True, checked=4, first_invalid_seq=None)


async def test_a_batch_with_an_unstorable_event_stores_none_of_it(pool: db.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(UnstorableEvent):
            await EventRepository(conn).append_many([event(1), event(2, payload={"bad": "nul\u0000"})])
    assert await ids(pool) == []
