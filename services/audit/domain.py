"""The hash chain that makes the audit trail tamper-evident, the filters of a query and what reading and verifying the
trail answer. Pure: no I/O.

Each record's hash is sha256(previous hash + canonical bytes of the record); the first record chains to 32 zero
bytes. The bytes a record contributes depend on the hash version it was written with:

- version 2 (what this release writes; migration 0002 added the column that names it): every stored column except
  the hash itself (the previous hash is the prefix): the envelope, `seq`, `received_at` and `hash_version`;
- version 1 (records stored before it): the envelope fields only, so such a record's `received_at`, and its `seq`
  beyond the order the links fix, can change unnoticed. They keep verifying by that rule: hashing them again now
  would vouch for whatever they hold today.

Changing, removing or reordering any record breaks every link from there on. Removing records from the end of the
trail leaves a shorter valid chain, which only a copy of the latest hash kept elsewhere shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kernel.audit_trail import ENVELOPE_FIELDS, GENESIS, HASH_VERSION, HASHED_FIELDS, Digest, canonical_bytes, link_hash
from kernel.errors import ValidationFailed
from kernel.events import Envelope

__all__ = [
    "ENVELOPE_FIELDS",
    "GENESIS",
    "HASHED_FIELDS",
    "HASH_VERSION",
    "API_CALLED",
    "AuditRecord",
    "Calls",
    "EventFilter",
    "StoredDigest",
    "UnstorableEvent",
    "Verification",
    "canonical",
    "chain_hash",
    "record_hash",
    "stored_fields",
    "verify_chain",
]


@dataclass(frozen=True, slots=True)
class StoredDigest:
    """A digest as the audit keeps it: with the public key that checks it (keys may be rotated)."""

    digest: Digest
    public_key: str


# What a query does with the API calls recorded beside the events.
Calls = Literal["exclude", "include", "only"]
API_CALLED = "api.called"


class UnstorableEvent(ValueError):
    """The database cannot hold this event (a NUL character or NaN in its payload); retrying cannot help."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored event and its place in the chain."""

    seq: int
    envelope: Envelope
    received_at: datetime
    prev_hash: bytes
    hash: bytes
    hash_version: int


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a query selects; always within one project (or the platform's scope, kernel.events.identity's
    PLATFORM_SCOPE). `since` is inclusive, `until` exclusive."""

    project_id: str
    types: tuple[str, ...] = ()
    resource_id: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # The API calls (`api.called`): left out unless asked for (`include`: beside the events; `only`), or named among
    # `types`. The filters of calls (`path` a prefix) select calls only.
    calls: Calls = "exclude"
    actor: str | None = None
    method: str | None = None
    status: int | None = None
    path: str | None = None

    @property
    def calls_only(self) -> bool:
        return self.calls == "only" or any(
            value is not None for value in (self.actor, self.method, self.status, self.path)
        )

    @property
    def without_calls(self) -> bool:
        return self.calls == "exclude" and not self.calls_only and API_CALLED not in self.types

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValidationFailed(
                "`since` must not be later than `until`.",
                errors=[{"location": "query.since", "message": "later than until", "type": "range"}],
            )


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    checked: int
    first_invalid_seq: int | None


def stored_fields(envelope: Envelope, *, seq: int, received_at: datetime) -> dict[str, Any]:
    """A record's stored fields as kernel.audit_trail hashes them."""
    return {**{name: getattr(envelope, name) for name in ENVELOPE_FIELDS}, "seq": seq, "received_at": received_at}


def canonical(envelope: Envelope, *, seq: int, received_at: datetime, hash_version: int = HASH_VERSION) -> bytes:
    """What a record contributes to the chain under `hash_version` (kernel.audit_trail.canonical_bytes). Raises
    ValueError for a version no rule exists for."""
    return canonical_bytes(stored_fields(envelope, seq=seq, received_at=received_at), hash_version)


def chain_hash(
    prev: bytes, envelope: Envelope, *, seq: int, received_at: datetime, hash_version: int = HASH_VERSION
) -> bytes:
    """The hash of a record with these stored fields that follows the record whose hash is `prev`."""
    return link_hash(prev, stored_fields(envelope, seq=seq, received_at=received_at), hash_version)


def record_hash(prev: bytes, record: AuditRecord) -> bytes | None:
    """The hash `record` must carry when it follows `prev`; None when it names no known hash version."""
    if record.hash_version not in HASHED_FIELDS:
        return None
    return chain_hash(
        prev, record.envelope, seq=record.seq, received_at=record.received_at, hash_version=record.hash_version
    )


def verify_chain(records: Iterable[AuditRecord], prev: bytes = GENESIS) -> int | None:
    """The seq of the first record that does not follow from `prev` and the records before it, or None.

    `records` are in seq order; `prev` is the hash of the record before the first (for checking in chunks). Records
    of either hash version may follow each other, since a replica of the previous release still writes version 1
    during a rolling upgrade. That opens no way around the stronger rule: the version a record names decides the
    bytes its hash is checked against, so changing it breaks the link like any other edit.
    """
    for record in records:
        if record.prev_hash != prev or record.hash != record_hash(prev, record):
            return record.seq
        prev = record.hash
    return None
