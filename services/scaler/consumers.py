"""What the scaler takes from the bus: metric samples (it decides as each batch arrives), what came of its commands
and of its groups' members, template versions, and the end of instance refreshes."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.consumer import Handler
from kernel.events import CommandRefused, Envelope, MetricsSampled, parse_payload
from kernel.events.templates import (
    TemplateCreated,
    TemplateDeleted,
    TemplateVersionCreated,
    TemplateVersionDeleted,
    TemplateVersionDeprecated,
)
from services.scaler.decisions import handlers as decisions
from services.scaler.decisions.outcomes import on_instance_event, on_refresh_ended
from services.scaler.templates.handlers import on_template_event
from services.scaler.unit_of_work import Repositories, ScalerTransaction

__all__ = ["BINDINGS", "handler"]

BINDINGS = (
    "metrics.sampled.*",
    "instance.*.*",
    "command.refused.*",
    "template.*.*",
    "instance_refresh.completed.*",
    "instance_refresh.rolled_back.*",
)
_TEMPLATE_EVENTS = (
    TemplateCreated,
    TemplateVersionCreated,
    TemplateVersionDeprecated,
    TemplateVersionDeleted,
    TemplateDeleted,
)
_INSTANCE_EVENTS = frozenset(
    {
        "instance.requested",
        "instance.launched",
        "instance.running",
        "instance.failed",
        "instance.stopped",
        "instance.terminated",
        "instance.quarantined",
        "command.refused",
    }
)


def handler(tuning: decisions.Tuning) -> Handler[Repositories]:
    known = decisions.KnownNames()

    async def on_event(tx: ScalerTransaction, envelope: Envelope) -> None:
        now = datetime.now(UTC)
        if envelope.type.startswith("instance_refresh."):
            # The failover service's events, read by field: the scaler needs two of them and no import of its schemas.
            await on_refresh_ended(tx, envelope.project_id, envelope.payload)
            return
        if envelope.type != MetricsSampled.TYPE and envelope.type not in _INSTANCE_EVENTS:
            if not envelope.type.startswith("template."):
                return
        event = parse_payload(envelope)
        if isinstance(event, MetricsSampled):
            await decisions.on_metrics(tx, envelope.project_id, event, now, known)
        elif isinstance(event, _TEMPLATE_EVENTS):
            await on_template_event(tx, envelope.project_id, event)
        elif envelope.type in _INSTANCE_EVENTS or isinstance(event, CommandRefused):
            await on_instance_event(tx, envelope.project_id, event, now, tuning)

    return on_event
