"""Use cases of the audit service."""

from __future__ import annotations

from kernel.consumer import PermanentFailure
from kernel.db import Connection
from kernel.events import Envelope
from services.audit import repository
from services.audit.domain import UnstorableEvent

__all__ = ["record_event"]


async def record_event(conn: Connection, envelope: Envelope) -> None:
    """Append any event from the bus to the trail; the consumer's inbox already skipped redeliveries."""
    try:
        await repository.append(conn, envelope)
    except UnstorableEvent as exc:
        # Redelivery would fail the same way; let the consumer dead-letter it for an operator to look at.
        raise PermanentFailure(str(exc)) from exc
