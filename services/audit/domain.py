"""The hash chain that makes the audit trail tamper-evident, and the filters of a query. Pure: no I/O.

Each record's hash is sha256(previous hash + canonical bytes of its envelope); the first record chains to 32
zero bytes. Changing, removing or reordering any record breaks every link from there on. Removing records from
the end of the trail leaves a shorter valid chain, which only a copy of the latest hash kept elsewhere shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kernel.errors import ValidationFailed
from kernel.events import Envelope

__all__ = [
    "CHAINED_FIELDS",
    "GENESIS",
    "AuditRecord",
    "EventFilter",
    "UnstorableEvent",
    "canonical",
    "chain_hash",
    "verify_chain",
]

GENESIS = bytes(32)

# Named explicitly rather than read from the model: a field added to the envelope later must not change the
# hashes of records stored before it existed.
CHAINED_FIELDS = (
    "id",
    "type",
    "version",
    "occurred_at",
    "project_id",
    "correlation_id",
    "causation_id",
    "subject",
    "payload",
)


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


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a query selects; always within one project. `since` is inclusive, `until` exclusive."""

    project_id: str
    types: tuple[str, ...] = ()
    resource_id: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValidationFailed(
                "`since` must not be later than `until`.",
                errors=[{"location": "query.since", "message": "later than until", "type": "range"}],
            )


def _value(name: str, value: Any) -> Any:
    if name == "id":
        return str(value)
    if name == "occurred_at":
        # The database hands timestamps back in UTC; an offset given by the producer must not change the hash.
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical(envelope: Envelope) -> bytes:
    """The envelope as sorted-key, compact, ASCII-only JSON: the same bytes for the same facts."""
    fields = {name: _value(name, getattr(envelope, name)) for name in CHAINED_FIELDS}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("ascii")


def chain_hash(prev: bytes, envelope: Envelope) -> bytes:
    return hashlib.sha256(prev + canonical(envelope)).digest()


def verify_chain(records: Iterable[AuditRecord], prev: bytes = GENESIS) -> int | None:
    """The seq of the first record that does not follow from `prev` and the records before it, or None.

    `records` are in seq order; `prev` is the hash of the record before the first (for checking in chunks).
    """
    for record in records:
        if record.prev_hash != prev or record.hash != chain_hash(prev, record.envelope):
            return record.seq
        prev = record.hash
    return None
