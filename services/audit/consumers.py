"""What the audit takes from the bus: every event, into the trail."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.consumer import PermanentFailure
from kernel.events import Envelope
from kernel.unit_of_work import Transaction
from services.audit import handlers
from services.audit.domain import UnstorableEvent
from services.audit.handlers import AuditRepositories

__all__ = ["BINDINGS", "on_event", "on_events"]

BINDINGS = ("#",)


async def on_event(tx: Transaction[AuditRepositories], envelope: Envelope) -> None:
    try:
        await handlers.record_event(tx, envelope)
    except UnstorableEvent as exc:
        # Redelivery would fail the same way: dead-lettered at once, for an operator to look at.
        raise PermanentFailure(str(exc)) from exc


async def on_events(tx: Transaction[AuditRepositories], envelopes: Sequence[Envelope]) -> None:
    # An unstorable event fails its batch; the consumer then hands each event over alone, and that one alone is
    # dead-lettered.
    try:
        await handlers.record_events(tx, envelopes)
    except UnstorableEvent as exc:
        if len(envelopes) == 1:
            raise PermanentFailure(str(exc)) from exc
        raise
