"""The audit API's response bodies (the gateway imports them for its OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    # Only named: the answers are read from records, and clients of the API need not import the audit's domain.
    from services.audit.domain import AuditRecord

__all__ = ["AuditEvent", "AuditEventPage", "ChainVerification"]


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
