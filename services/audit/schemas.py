"""The audit API's response bodies (the gateway imports them for its OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    # Only named: the answers are read from records, and clients of the API need not import the audit's domain.
    from services.audit.domain import AuditRecord, StoredDigest

__all__ = ["AuditDigest", "AuditDigestPage", "AuditEvent", "AuditEventPage", "AuditPublicKey", "ChainVerification"]


class AuditEvent(BaseModel):
    """One recorded event: its envelope, where it sits in the trail, and its link in the hash chain."""

    id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    project_id: str
    correlation_id: str
    causation_id: str | None
    subject: str | None = Field(description="The id of the resource the event is about.")
    payload: dict[str, Any]
    seq: int = Field(description="Position in the trail, increasing with the order events were recorded.")
    received_at: datetime
    hash: str = Field(description="sha256 of the previous record's hash and this record, hex.")
    hash_version: int = Field(
        description="The rule `hash` was made with: 2 covers every stored field (the envelope, seq, received_at and "
        "hash_version); 1, on records stored before it existed, the envelope only."
    )

    @classmethod
    def from_record(cls, record: AuditRecord) -> AuditEvent:
        return cls(
            **dict(record.envelope),
            seq=record.seq,
            received_at=record.received_at,
            hash=record.hash.hex(),
            hash_version=record.hash_version,
        )


class AuditEventPage(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ChainVerification(BaseModel):
    valid: bool
    checked: int = Field(description="Records examined, up to and including the first invalid one.")
    first_invalid_seq: int | None


class AuditDigest(BaseModel):
    """A signed statement of the chain's end: the record `last_seq` has hash `last_hash`, the chain had held
    `record_count` records up to it, and the digest before it had `previous_signature`."""

    number: int
    created_at: datetime
    last_seq: int
    last_hash: str = Field(description="hex")
    record_count: int
    previous_signature: str | None = Field(description="base64")
    signature: str = Field(description="Ed25519 over the digest's fields, base64")
    key_id: str
    public_key: str = Field(description="PEM of the key that signed it")

    @classmethod
    def from_stored(cls, stored: StoredDigest) -> AuditDigest:
        return cls(**stored.digest.to_json(), public_key=stored.public_key)


class AuditDigestPage(BaseModel):
    items: list[AuditDigest]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class AuditPublicKey(BaseModel):
    algorithm: str = "Ed25519"
    key_id: str
    public_key: str = Field(description="SubjectPublicKeyInfo PEM: what `clanavi audit verify --public-key` takes.")
