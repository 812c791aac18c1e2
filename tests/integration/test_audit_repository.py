"""The audit store on a real PostgreSQL: appending, querying, append-only triggers, chain verification."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devstack import PostgresServer, free_port
from kernel import db
from kernel.consumer import EventConsumer, PermanentFailure
from kernel.errors import ValidationFailed
from kernel.events import Envelope
from kernel.keyset import Order, PageRequest
from kernel.migrations import migrate
from kernel.pagination import encode_cursor
from services.audit import repository
from services.audit.app import MIGRATIONS
from services.audit.domain import AuditRecord, EventFilter
from services.audit.handlers import record_event

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


async def store(pool: db.Pool, *envelopes: Envelope) -> None:
    for env in envelopes:
        async with pool.acquire() as conn:
            assert await repository.append(conn, env)


async def ids(pool: db.Pool, order: Order = "asc", **filters: Any) -> list[uuid.UUID]:
    page = await repository.query(pool, EventFilter(**{"project_id": "p1", **filters}), PageRequest(500, order=order))
    assert page.next_cursor is None
    return [r.envelope.id for r in page.items]


async def walk(pool: db.Pool, filters: EventFilter, limit: int, order: Order = "asc") -> list[AuditRecord]:
    items: list[AuditRecord] = []
    cursor: str | None = None
    while True:
        # Only the first page names the order: the cursor carries it on.
        page = await repository.query(
            pool, filters, PageRequest(limit, cursor, order=order if cursor is None else "asc")
        )
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


async def test_appended_events_come_back_as_they_were_sent(pool: db.Pool) -> None:
    env = event(1, causation_id="cause-1", payload={"name": "web", "tags": ["a", "b"], "size": {"cpu": 2}})
    await store(pool, env)
    page = await repository.query(pool, EventFilter(project_id="p1"), PageRequest(50))
    [record] = page.items
    assert record.envelope.model_dump() == env.model_dump()
    assert record.seq >= 1 and len(record.hash) == 32 and record.prev_hash == bytes(32)
    assert record.received_at.tzinfo is not None


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
    everything = (await repository.query(pool, EventFilter(project_id="p1"), PageRequest(500, order=order))).items
    keys = [(r.envelope.occurred_at, r.seq) for r in everything]
    assert keys == sorted(keys, reverse=order == "desc") and len(keys) == 23

    paged = await walk(pool, EventFilter(project_id="p1"), limit=4, order=order)
    assert [r.seq for r in paged] == [r.seq for r in everything]

    # An event recorded between two pages shows up on a later one when it sorts after the cursor.
    filters = EventFilter(project_id="p1")
    first = await repository.query(pool, filters, PageRequest(5))
    await store(pool, event(99, occurred_at=T0 + timedelta(hours=1)))
    rest: list[AuditRecord] = []
    cursor = first.next_cursor
    while cursor is not None:
        page = await repository.query(pool, filters, PageRequest(5, cursor))
        rest += page.items
        cursor = page.next_cursor
    now = (await repository.query(pool, filters, PageRequest(500))).items
    assert [r.seq for r in first.items + rest] == [r.seq for r in now] and len(now) == 24


async def test_bad_cursors_are_refused(pool: db.Pool) -> None:
    await store(pool, *(event(n) for n in range(3)))
    page = await repository.query(pool, EventFilter(project_id="p1"), PageRequest(1))
    assert page.next_cursor is not None
    # A cursor continues its own walk whatever order the request names.
    following = await repository.query(
        pool, EventFilter(project_id="p1"), PageRequest(1, page.next_cursor, order="desc")
    )
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
            await repository.query(pool, EventFilter(project_id="p1"), PageRequest(1, cursor))


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


async def tamper(pool: db.Pool, sql: str) -> None:
    """Change the trail the way only a superuser can: with the guard trigger switched off."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
        await conn.execute(sql)
        await conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete")


async def test_verify_detects_a_changed_row(pool: db.Pool) -> None:
    empty = repository.Verification(valid=True, checked=0, first_invalid_seq=None)
    assert await repository.verify(pool) == empty
    await store(pool, *(event(n) for n in range(7)))
    assert await repository.verify(pool, chunk_size=3) == repository.Verification(True, 7, None)
    await tamper(pool, "UPDATE events SET payload = '{\"n\": 99}' WHERE seq = 5")
    assert await repository.verify(pool, chunk_size=3) == repository.Verification(False, 5, 5)
    assert await repository.verify(pool, chunk_size=1000) == repository.Verification(False, 5, 5)


async def test_verify_detects_a_removed_row(pool: db.Pool) -> None:
    await store(pool, *(event(n) for n in range(5)))
    await tamper(pool, "DELETE FROM events WHERE seq = 3")
    # The row after the gap no longer follows from the one before it.
    assert await repository.verify(pool, chunk_size=2) == repository.Verification(False, 3, 4)


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
    assert (await repository.verify(pool)).valid


async def test_an_unstorable_event_fails_permanently_and_stores_nothing(pool: db.Pool) -> None:
    consumer = EventConsumer(pool, name="audit", handle=record_event)
    with pytest.raises(PermanentFailure):
        await consumer.handle_delivery(event(1, payload={"text": "nul \x00 byte"}))
    assert await consumer.handle_delivery(event(2))
    assert await repository.verify(pool) == repository.Verification(True, 1, None)


async def test_the_consumer_records_a_duplicate_delivery_once(pool: db.Pool) -> None:
    consumer = EventConsumer(pool, name="audit", handle=record_event)
    env = event(1)
    assert await consumer.handle_delivery(env) is True
    assert await consumer.handle_delivery(env) is False
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE id = $1", env.id) == 1


async def test_append_skips_an_event_it_already_holds(pool: db.Pool) -> None:
    # The inbox may have been pruned since the first delivery; the events table still knows the id.
    env = event(1)
    async with pool.acquire() as conn:
        assert await repository.append(conn, env) is True
        assert await repository.append(conn, env) is False
    assert await repository.verify(pool) == repository.Verification(True, 1, None)


async def test_concurrent_deliveries_append_one_at_a_time(pool: db.Pool) -> None:
    consumer = EventConsumer(pool, name="audit", handle=record_event)
    results = await asyncio.gather(*(consumer.handle_delivery(event(n)) for n in range(40)))
    assert all(results)
    assert await repository.verify(pool, chunk_size=7) == repository.Verification(True, 40, None)
