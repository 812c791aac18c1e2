"""Everything the provisioner takes from the bus, on its one queue: the commands addressed to it (`commands`) and the
billing service's launch blocks (`blocks`), each sent to its concept by type."""

from __future__ import annotations

from kernel.events import Envelope
from kernel.unit_of_work import Transaction
from services.provisioner.blocks import consumers as blocks
from services.provisioner.commands import consumers as commands
from services.provisioner.unit_of_work import Repositories

__all__ = ["BINDINGS", "on_message"]

BINDINGS = (*commands.BINDINGS, *blocks.BINDINGS)


async def on_message(tx: Transaction[Repositories], envelope: Envelope) -> None:
    if envelope.type.startswith("budget."):
        await blocks.on_budget_event(tx, envelope)
    else:
        await commands.on_command(tx, envelope)
