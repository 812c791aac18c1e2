"""The audit hash chain: canonical bytes, chaining, and what verification catches."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kernel.errors import ValidationFailed
from kernel.events import Envelope
from services.audit.domain import (
    ENVELOPE_FIELDS,
    GENESIS,
    HASH_VERSION,
    HASHED_FIELDS,
    AuditRecord,
    EventFilter,
    canonical,
    chain_hash,
    record_hash,
    verify_chain,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# Written down from the rule every record stored before migration 0002 was hashed with: those records must keep
# verifying, so version 1 must never change.
V1_CANONICAL = (
    b'{"causation_id":null,"correlation_id":"c1","id":"00000000-0000-0000-0000-000000000001",'
    b'"occurred_at":"2024-05-01T12:00:01.000000+00:00","payload":{"n":1,"name":"web"},"project_id":"p1",'
    b'"subject":"i-1","type":"instance.launched","version":1}'
)
V1_HASHES = (
    "1e401b0fb12f5df5c533fbbe50a4467041336d007afb2e59639c3fb88e7e04a8",
    "0ab7c0a2458ad8b4ca6528b8dcd5c83c2dfe783882ca499ef0a28a7a4f52b09d",
)


def envelope(n: int, **changes: object) -> Envelope:
    fields: dict[str, object] = {
        "id": uuid.UUID(int=n),
        "type": "instance.launched",
        "version": 1,
        "occurred_at": T0 + timedelta(seconds=n),
        "project_id": "p1",
        "correlation_id": f"c{n}",
        "subject": f"i-{n}",
        "payload": {"n": n, "name": "web"},
    }
    fields.update(changes)
    return Envelope.model_validate(fields)


def received(n: int) -> datetime:
    return T0 + timedelta(minutes=n, microseconds=n)


def chain(count: int, versions: dict[int, int] | None = None) -> list[AuditRecord]:
    """`count` linked records; `versions` names the hash version of some of them (by seq), HASH_VERSION otherwise."""
    records, prev = [], GENESIS
    for n in range(1, count + 1):
        env, version = envelope(n), (versions or {}).get(n, HASH_VERSION)
        digest = chain_hash(prev, env, seq=n, received_at=received(n), hash_version=version)
        records.append(
            AuditRecord(seq=n, envelope=env, received_at=received(n), prev_hash=prev, hash=digest, hash_version=version)
        )
        prev = digest
    return records


def test_canonical_is_sorted_compact_json_of_every_stored_field() -> None:
    env = envelope(1, payload={"b": 1, "a": [1, 2]})
    raw = canonical(env, seq=7, received_at=datetime(2024, 5, 1, 12, 0, 2, 5, tzinfo=UTC))
    assert b" " not in raw
    decoded = json.loads(raw)
    assert list(decoded) == sorted(decoded)
    assert set(decoded) == {*ENVELOPE_FIELDS, "seq", "received_at", "hash_version"}
    assert decoded["payload"] == {"a": [1, 2], "b": 1}
    assert decoded["id"] == str(uuid.UUID(int=1))
    assert decoded["occurred_at"] == "2024-05-01T12:00:01.000000+00:00"
    assert decoded["received_at"] == "2024-05-01T12:00:02.000005+00:00"
    assert decoded["seq"] == 7 and decoded["hash_version"] == HASH_VERSION == 2
    assert decoded["causation_id"] is None


def test_canonical_ignores_key_order_and_the_producers_utc_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    a = envelope(1, payload={"x": 1, "y": 2})
    b = envelope(1, payload={"y": 2, "x": 1}, occurred_at=a.occurred_at.astimezone(plus_two))
    assert canonical(a, seq=1, received_at=T0) == canonical(b, seq=1, received_at=T0.astimezone(plus_two))


def test_version_1_is_the_rule_records_stored_before_it_were_hashed_with() -> None:
    env = envelope(1)
    # Version 1 left seq and received_at out: whatever they hold, the bytes are the same.
    for seq, at in ((1, T0), (99, received(5))):
        assert canonical(env, seq=seq, received_at=at, hash_version=1) == V1_CANONICAL
    first = chain_hash(GENESIS, env, seq=1, received_at=T0, hash_version=1)
    second = chain_hash(first, env, seq=2, received_at=T0, hash_version=1)
    assert (first.hex(), second.hex()) == V1_HASHES
    assert HASHED_FIELDS[1] == ENVELOPE_FIELDS


def test_an_unknown_hash_version_has_no_rule() -> None:
    with pytest.raises(ValueError, match="hash version"):
        canonical(envelope(1), seq=1, received_at=T0, hash_version=3)
    record = replace(chain(1)[0], hash_version=3)
    assert record_hash(GENESIS, record) is None
    assert verify_chain([record]) == 1


def test_chain_hash_depends_on_the_previous_hash() -> None:
    env = envelope(1)
    assert len(chain_hash(GENESIS, env, seq=1, received_at=T0)) == 32
    assert chain_hash(GENESIS, env, seq=1, received_at=T0) != chain_hash(b"\x01" * 32, env, seq=1, received_at=T0)


def test_an_intact_chain_verifies() -> None:
    records = chain(5)
    assert verify_chain(records) is None
    assert verify_chain([]) is None
    # Checking in chunks: each chunk starts from the hash the previous one ended with.
    assert verify_chain(records[2:], prev=records[1].hash) is None


def test_a_changed_payload_is_detected() -> None:
    records = chain(5)
    records[2] = replace(records[2], envelope=envelope(3, payload={"n": 3, "name": "evil"}))
    assert verify_chain(records) == 3


def test_a_changed_envelope_field_is_detected() -> None:
    records = chain(5)
    records[3] = replace(records[3], envelope=envelope(4, project_id="p2"))
    assert verify_chain(records) == 4


def test_a_removed_record_is_detected() -> None:
    records = chain(5)
    del records[1]
    assert verify_chain(records) == 3


def test_a_reordered_pair_is_detected() -> None:
    records = chain(5)
    records[1], records[2] = records[2], records[1]
    assert verify_chain(records) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"received_at": received(3) + timedelta(microseconds=1)},
        {"seq": 4},
        {"hash_version": 1},
        {"prev_hash": b"\x02" * 32},
        {"hash": b"\x03" * 32},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_stored_field_outside_the_envelope_is_detected(change: dict[str, Any]) -> None:
    records = chain(5)
    records[2] = replace(records[2], **change)
    assert verify_chain(records) == records[2].seq


def test_a_rewritten_hash_is_detected_at_the_next_link() -> None:
    records = chain(5)
    forged = envelope(2, payload={"forged": True})
    digest = chain_hash(records[0].hash, forged, seq=2, received_at=received(2))
    records[1] = replace(records[1], envelope=forged, hash=digest)
    assert verify_chain(records) == 3
    records = chain(5)
    later = received(2) + timedelta(seconds=1)
    digest = chain_hash(records[0].hash, records[1].envelope, seq=2, received_at=later)
    records[1] = replace(records[1], received_at=later, hash=digest)
    assert verify_chain(records) == 3


def test_records_of_both_versions_chain_across_the_boundary() -> None:
    records = chain(6, versions={1: 1, 2: 1, 3: 1})
    assert [r.hash_version for r in records] == [1, 1, 1, 2, 2, 2]
    assert verify_chain(records) is None
    assert records[3].prev_hash == records[2].hash
    # The rule a record names is part of what it is checked against, in both directions.
    assert verify_chain([*records[:2], replace(records[2], hash_version=2), *records[3:]]) == 3
    assert verify_chain([*records[:3], replace(records[3], hash_version=1), *records[4:]]) == 4
    # A version 1 record's envelope is still covered.
    assert verify_chain([records[0], replace(records[1], envelope=envelope(2, project_id="p2")), *records[2:]]) == 2


def test_the_first_record_must_chain_to_zero_bytes() -> None:
    records = chain(2)
    assert verify_chain(records[1:]) == 2


def test_a_filter_rejects_since_after_until() -> None:
    with pytest.raises(ValidationFailed):
        EventFilter(project_id="p1", since=T0 + timedelta(seconds=1), until=T0)
    assert EventFilter(project_id="p1", since=T0, until=T0).since == T0
