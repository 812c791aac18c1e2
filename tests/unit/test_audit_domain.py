"""The audit hash chain: canonical bytes, chaining, and what verification catches."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kernel.errors import ValidationFailed
from kernel.events import Envelope
from services.audit.domain import GENESIS, AuditRecord, EventFilter, canonical, chain_hash, verify_chain

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


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


def chain(count: int) -> list[AuditRecord]:
    records, prev = [], GENESIS
    for n in range(1, count + 1):
        env = envelope(n)
        digest = chain_hash(prev, env)
        records.append(AuditRecord(seq=n, envelope=env, received_at=T0, prev_hash=prev, hash=digest))
        prev = digest
    return records


def test_canonical_is_sorted_compact_json_of_the_envelope_fields() -> None:
    env = envelope(1, payload={"b": 1, "a": [1, 2]})
    raw = canonical(env)
    assert b" " not in raw
    decoded = json.loads(raw)
    assert list(decoded) == sorted(decoded)
    assert decoded["payload"] == {"a": [1, 2], "b": 1}
    assert decoded["id"] == str(uuid.UUID(int=1))
    assert decoded["occurred_at"] == "2024-05-01T12:00:01.000000+00:00"
    assert decoded["causation_id"] is None


def test_canonical_ignores_key_order_and_the_producers_utc_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    a = envelope(1, payload={"x": 1, "y": 2})
    b = envelope(1, payload={"y": 2, "x": 1}, occurred_at=a.occurred_at.astimezone(plus_two))
    assert canonical(a) == canonical(b)


def test_chain_hash_depends_on_the_previous_hash() -> None:
    env = envelope(1)
    assert len(chain_hash(GENESIS, env)) == 32
    assert chain_hash(GENESIS, env) != chain_hash(b"\x01" * 32, env)


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


def test_a_rewritten_hash_is_detected_at_the_next_link() -> None:
    records = chain(5)
    forged = envelope(2, payload={"forged": True})
    records[1] = replace(records[1], envelope=forged, hash=chain_hash(records[0].hash, forged))
    assert verify_chain(records) == 3


def test_the_first_record_must_chain_to_zero_bytes() -> None:
    records = chain(2)
    assert verify_chain(records[1:]) == 2


def test_a_filter_rejects_since_after_until() -> None:
    with pytest.raises(ValidationFailed):
        EventFilter(project_id="p1", since=T0 + timedelta(seconds=1), until=T0)
    assert EventFilter(project_id="p1", since=T0, until=T0).since == T0
