"""v1 events that tell what came of a command, when it is not an event of the thing it changed."""

from __future__ import annotations

from kernel.events.envelope import EventPayload


class CommandRefused(EventPayload):
    """A service refused a command: what the API would answer for it (`status`, `code`, `detail`, the fields at
    fault). Nothing was changed; a sender does not send it again unchanged."""

    TYPE = "command.refused"
    command_id: str
    command: str
    requested_by: str
    # The id of what the command is about (the instance it would launch or change), when it names one.
    subject_id: str | None = None
    status: int
    code: str
    detail: str
    errors: list[dict[str, str]] = []

    SUBJECT = "subject_id"


class InstanceQuarantined(EventPayload):
    """An instance left its scaling group and was stopped, kept for forensics."""

    TYPE = "instance.quarantined"
    instance_id: str
    cloud_id: str
    requested_by: str
    reason: str
    # The group it was taken out of, if it was in one.
    scaling_group_id: str | None = None

    SUBJECT = "instance_id"
