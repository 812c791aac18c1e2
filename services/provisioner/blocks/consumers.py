"""What the provisioner takes from the billing service: a budget's `budget.launches_blocked` and
`budget.launches_unblocked`, recorded in the inbox's transaction."""

from __future__ import annotations

from pydantic import ValidationError

from kernel.consumer import PermanentFailure
from kernel.events import BudgetLaunchesBlocked, BudgetLaunchesUnblocked, Envelope
from kernel.events.envelope import UnknownEventType, parse_payload
from kernel.unit_of_work import Transaction
from services.provisioner.blocks import handlers
from services.provisioner.blocks.handlers import BlockStore

__all__ = ["BINDINGS", "on_budget_event"]

# Any version: a newer one than this provisioner knows is left alone (`UnknownEventType`).
BINDINGS = ("budget.launches_blocked.*", "budget.launches_unblocked.*")


async def on_budget_event(tx: Transaction[BlockStore], envelope: Envelope) -> None:
    try:
        payload = parse_payload(envelope)
    except UnknownEventType:
        return
    except ValidationError as exc:
        raise PermanentFailure(f"{envelope.routing_key} {envelope.id} does not match its schema") from exc
    if isinstance(payload, BudgetLaunchesBlocked | BudgetLaunchesUnblocked):
        await handlers.learn(tx, envelope, payload)
