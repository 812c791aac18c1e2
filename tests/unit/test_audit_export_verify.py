"""Offline verification of an audit export (kernel.audit_trail.verify_export): an export made by the audit's own use
cases verifies, and every way of tampering with it is named: a record edited, removed, inserted or moved, the end cut
off, a digest forged or signed by another key. Retention leaves the trail verifiable and says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kernel.audit_trail import (
    GENESIS,
    generate_private_key,
    link_hash,
    load_private_key,
    public_key_pem,
    verify_export,
)
from kernel.events import Envelope
from kernel.unit_of_work import FakeUnitOfWork
from services.audit import handlers
from services.audit.handlers import AuditRepositories
from tests.fakes.audit import fake_audit, records

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KEY = load_private_key(generate_private_key())
PUBLIC = public_key_pem(KEY)


def event(n: int) -> Envelope:
    return Envelope.model_validate(
        {
            "type": "instance.launched",
            "version": 1,
            "occurred_at": T0 + timedelta(seconds=n),
            "project_id": "p1",
            "correlation_id": f"corr-{n}",
            "subject": f"i-{n}",
            "payload": {"n": n, "price": 0.1 * n},
        }
    )


async def trail(*batches: int) -> FakeUnitOfWork[AuditRepositories]:
    """A trail with a digest after each batch of that many events."""
    uow = fake_audit()
    n = 0
    for size in batches:
        for _ in range(size):
            n += 1
            async with uow.transaction() as tx:
                await handlers.record_event(tx, event(n))
        assert await handlers.make_digest(uow, KEY, T0 + timedelta(minutes=n)) is not None
    return uow


async def export(uow: FakeUnitOfWork[AuditRepositories]) -> list[dict[str, Any]]:
    return [json.loads(line) async for line in handlers.export(uow, PUBLIC, T0)]


def lines(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(row) for row in rows]


def kinds(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    report = verify_export(lines(rows), PUBLIC)
    found: dict[str, list[int]] = {}
    for finding in report.findings:
        found.setdefault(finding.kind, []).append(finding.seq or 0)
    return found


def record_at(rows: list[dict[str, Any]], seq: int) -> int:
    return next(i for i, row in enumerate(rows) if row["kind"] == "record" and row["seq"] == seq)


async def test_an_intact_export_verifies() -> None:
    rows = await export(await trail(3, 4))
    report = verify_export(lines(rows), PUBLIC)
    assert report.findings == []
    assert (report.records, report.digests, report.first_seq, report.last_seq) == (7, 2, 1, 7)
    assert report.covered_to_seq == 7 and not report.anchored
    assert rows[0]["retention"] == {"records_removed": False, "anchored_by_digest": None}


async def test_the_key_in_the_header_is_used_without_one_given() -> None:
    rows = await export(await trail(2))
    report = verify_export(lines(rows))
    assert report.valid and report.key_source == "export header"


async def test_an_edited_record_is_named() -> None:
    rows = await export(await trail(5))
    rows[record_at(rows, 3)]["payload"]["n"] = 33
    assert kinds(rows) == {"edited": [3]}


async def test_an_edited_time_is_named() -> None:
    rows = await export(await trail(5))
    rows[record_at(rows, 2)]["received_at"] = "2020-01-01T00:00:00+00:00"
    assert kinds(rows) == {"edited": [2]}


async def test_a_removed_record_is_named() -> None:
    rows = await export(await trail(5))
    del rows[record_at(rows, 3)]
    found = kinds(rows)
    assert found["removed"][0] == 4
    assert set(found) == {"removed"}


async def test_an_inserted_record_is_named() -> None:
    rows = await export(await trail(5))
    at = record_at(rows, 3)
    forged = {**rows[at], "id": "00000000-0000-4000-8000-000000000001", "payload": {"n": 99}}
    # A careful forger makes the inserted record's own hash consistent.
    fields = {k: v for k, v in forged.items() if k not in ("kind", "prev_hash", "hash")}
    forged["prev_hash"] = rows[at]["hash"]
    forged["hash"] = link_hash(bytes.fromhex(forged["prev_hash"]), fields, forged["hash_version"]).hex()
    rows.insert(at + 1, forged)
    found = kinds(rows)
    assert found.get("inserted", [None])[0] == 3
    assert "edited" not in found


async def test_reordered_records_are_named() -> None:
    rows = await export(await trail(5))
    a, b = record_at(rows, 2), record_at(rows, 3)
    rows[a], rows[b] = rows[b], rows[a]
    assert kinds(rows) == {"reordered": [3, 2]}


async def test_records_cut_from_the_end_are_revealed_by_a_digest() -> None:
    rows = await export(await trail(3, 3))
    rows = [row for row in rows if not (row["kind"] == "record" and row["seq"] >= 5)]
    found = kinds(rows)
    assert found == {"truncated": [6]}


async def test_a_rewritten_chain_is_caught_by_the_digest() -> None:
    """Removing a record and recomputing every hash after it leaves a valid chain that the digest contradicts."""
    rows = await export(await trail(5))
    del rows[record_at(rows, 2)]
    prev = GENESIS
    for row in rows:
        if row["kind"] != "record":
            continue
        fields = {k: v for k, v in row.items() if k not in ("kind", "prev_hash", "hash")}
        row["prev_hash"] = prev.hex()
        row["hash"] = link_hash(prev, fields, row["hash_version"]).hex()
        prev = bytes.fromhex(row["hash"])
    found = kinds(rows)
    assert found == {"edited": [5]}


async def test_a_forged_digest_fails_its_signature() -> None:
    rows = await export(await trail(2, 2))
    digest = next(row for row in rows if row["kind"] == "digest" and row["number"] == 2)
    digest["record_count"] = 3
    report = verify_export(lines(rows), PUBLIC)
    assert any(f.kind == "digest" and "signature" in f.message for f in report.findings)


async def test_another_key_is_refused() -> None:
    rows = await export(await trail(2))
    other = public_key_pem(load_private_key(generate_private_key()))
    report = verify_export(lines(rows), other)
    assert [f.kind for f in report.findings] == ["digest"]


async def test_a_removed_digest_is_named() -> None:
    rows = await export(await trail(1, 1, 1))
    rows = [row for row in rows if not (row["kind"] == "digest" and row["number"] == 2)]
    report = verify_export(lines(rows), PUBLIC)
    assert any(f.kind == "digest" and "missing" in f.message for f in report.findings)


async def test_not_an_export() -> None:
    report = verify_export(['{"kind": "record"}', "not json"], PUBLIC)
    assert {f.kind for f in report.findings} == {"format"}


async def test_retention_keeps_the_trail_verifiable() -> None:
    uow = await trail(3, 3, 2)
    # Every record is old enough; retention removes up to the newest digest short of the end (seq 8 is the end
    # and the last digest covers it: removing it would leave nothing to anchor what comes next to).
    removed = await handlers.apply_retention(uow, datetime.now(UTC) + timedelta(days=1))
    assert removed == 6
    assert [r.seq for r in records(uow)] == [7, 8]
    assert (await handlers.verify(uow)).valid
    rows = await export(uow)
    assert rows[0]["retention"] == {"records_removed": True, "anchored_by_digest": 2}
    report = verify_export(lines(rows), PUBLIC)
    assert report.findings == [] and report.anchored and report.first_seq == 7


async def test_retention_keeps_what_is_recent() -> None:
    uow = await trail(3, 3)
    assert await handlers.apply_retention(uow, datetime.now(UTC) - timedelta(days=1)) == 0
    assert len(records(uow)) == 6


async def test_a_digest_is_made_only_when_the_chain_moved() -> None:
    uow = await trail(2)
    assert await handlers.make_digest(uow, KEY, T0) is None


async def test_records_cut_from_the_start_under_a_digest_are_named_when_the_export_claims_no_retention() -> None:
    rows = await export(await trail(3, 3))
    rows = [row for row in rows if not (row["kind"] == "record" and row["seq"] <= 3)]
    assert kinds(rows) == {"removed": [4]}
