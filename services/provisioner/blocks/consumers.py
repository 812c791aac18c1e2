"""What the provisioner takes from the billing service: a budget's `budget.launches_blocked` and
`budget.launches_unblocked`, recorded in the inbox's transaction."""

from __future__ import annotations

from kernel.consumer import payload_of
from kernel.events import BudgetLaunchesBlocked, BudgetLaunchesUnblocked, Envelope
from kernel.unit_of_work import Transaction
from services.provisioner.blocks import handlers
from services.provisioner.blocks.handlers import BlockStore

__all__ = ["BINDINGS", "on_budget_event"]

# Any version: a newer one than this provisioner knows is left alone (`UnknownEventType`).
BINDINGS = ("budget.launches_blocked.*", "budget.launches_unblocked.*")


async def on_budget_event(tx: Transaction[BlockStore], envelope: Envelope) -> None:
    payload = payload_of(envelope)
    if payload is None:
        return
    if isinstance(payload, BudgetLaunchesBlocked | BudgetLaunchesUnblocked):
        await handlers.learn(tx, envelope, payload)
