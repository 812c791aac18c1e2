"""What the scaler takes from the bus: metric samples (it decides as each batch arrives), what came of its commands
and of its groups' members, template versions and cluster roles, and the end of instance refreshes.

The deliveries waiting together are handled together: their metric samples in one decision per project (the latest
sample of each member's or group's metric), after the other events in the order they came."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from kernel.consumer import BatchHandler, Handler
from kernel.events import Envelope, InstanceRefreshCompleted, InstanceRefreshRolledBack, MetricsSampled, parse_payload
from kernel.events.templates import (
    TemplateCreated,
    TemplateDeleted,
    TemplateVersionCreated,
    TemplateVersionDeleted,
    TemplateVersionDeprecated,
)
from services.scaler.clusters.handlers import on_cluster_event
from services.scaler.decisions import handlers as decisions
from services.scaler.decisions.outcomes import on_instance_event, on_refresh_ended
from services.scaler.templates.handlers import on_template_event
from services.scaler.unit_of_work import Repositories, ScalerTransaction

__all__ = ["BINDINGS", "batch_handler", "handler"]

BINDINGS = (
    "metrics.sampled.*",
    "instance.*.*",
    "command.refused.*",
    "template.*.*",
    "cluster.*.*",
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
# What the scaler follows of its members' lives (the rest of `instance.*` tells it nothing).
_MEMBER_EVENTS = frozenset(
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


def batch_handler(tuning: decisions.Tuning) -> BatchHandler[Repositories]:
    known = decisions.KnownNames()

    async def on_events(tx: ScalerTransaction, envelopes: Sequence[Envelope]) -> None:
        now = datetime.now(UTC)
        sampled: dict[str, list[MetricsSampled]] = defaultdict(list)
        for envelope in envelopes:
            if envelope.type == MetricsSampled.TYPE:
                sampled[envelope.project_id].append(MetricsSampled.model_validate(envelope.payload))
            elif envelope.type.startswith("instance_refresh."):
                ended = parse_payload(envelope)
                if isinstance(ended, InstanceRefreshCompleted | InstanceRefreshRolledBack):
                    await on_refresh_ended(tx, envelope.project_id, ended)
            elif envelope.type.startswith("template."):
                event = parse_payload(envelope)
                if isinstance(event, _TEMPLATE_EVENTS):
                    await on_template_event(tx, envelope.project_id, event)
            elif envelope.type.startswith("cluster."):
                await on_cluster_event(tx, envelope.project_id, parse_payload(envelope))
            elif envelope.type in _MEMBER_EVENTS:
                await on_instance_event(
                    tx, envelope.project_id, parse_payload(envelope), envelope.occurred_at, now, tuning
                )
        for project_id, batches in sampled.items():
            await decisions.on_metrics(tx, project_id, batches, now, known, tuning)

    return on_events


def handler(tuning: decisions.Tuning) -> Handler[Repositories]:
    """One event at a time, as the batch handler handles a batch of one."""
    many = batch_handler(tuning)

    async def on_event(tx: ScalerTransaction, envelope: Envelope) -> None:
        await many(tx, [envelope])

    return on_event
