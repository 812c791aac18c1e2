"""What the provisioner takes from the bus: the commands addressed to it (`provisioner.#`), recorded in the inbox's
transaction and carried out by the command worker once that committed (a cloud is never called in a transaction).

A command that makes an instance names it (a UUID its sender chose): a second command naming the same instance is
dropped as the inbox drops a redelivery; an id that is not a UUID, or that an instance has already, is refused.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import ValidationError

import kernel.commands as commands
from kernel.consumer import PermanentFailure
from kernel.events import Envelope
from kernel.events.envelope import UnknownEventType, parse_payload
from kernel.unit_of_work import Transaction, caused_by
from services.provisioner.commands.handlers import refusal
from services.provisioner.commands.repository import CommandRecord
from services.provisioner.unit_of_work import Repositories

__all__ = ["BINDINGS", "COMMAND_CHANNEL", "on_command"]

BINDINGS = ("provisioner.#",)
# Wakes the command worker once a command is recorded.
COMMAND_CHANNEL = "provisioner_commands"


def _fresh_id(text: str) -> bool:
    """A UUID in its usual spelling (what every instance id is)."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


async def on_command(tx: Transaction[Repositories], envelope: Envelope) -> None:
    try:
        payload = parse_payload(envelope)
    except (UnknownEventType, ValidationError) as exc:
        raise PermanentFailure(f"not a command this provisioner knows: {envelope.routing_key}") from exc
    if not isinstance(payload, commands.CommandPayload):
        raise PermanentFailure(f"{envelope.routing_key} is not a command")
    makes, field = None, "instance_id"
    if isinstance(payload, commands.LaunchInstance):
        makes = payload.instance_id
    elif isinstance(payload, commands.ReplaceInstance):
        makes, field = payload.new_instance_id, "new_instance_id"
    valid = makes is None or _fresh_id(makes)
    now = datetime.now(UTC)
    record = CommandRecord(
        id=str(envelope.id),
        project_id=envelope.project_id,
        type=envelope.type,
        payload=envelope.payload,
        requested_by=payload.requested_by,
        correlation_id=envelope.correlation_id,
        state="pending" if valid else "refused",
        makes_instance=makes if valid else None,
        attempts=0,
        reason=None if valid else f"{makes} is not a UUID",
        created_at=now,
        updated_at=now,
    )
    if not await tx.repos.commands.add(record):
        return  # the same instance was asked for by an earlier command
    problem = record.reason
    if problem is None and makes is not None and await tx.repos.instances.project_of(makes) is not None:
        problem = f"an instance {makes} exists already"
        await tx.repos.commands.settle(record.id, "refused", reason=problem)
    if problem is None:
        tx.notify(COMMAND_CHANNEL)
        return
    errors = [{"location": f"payload.{field}", "message": problem}]
    tx.emit(caused_by(envelope), refusal(record, 422, "validation_failed", "The command names a bad new id.", errors))
