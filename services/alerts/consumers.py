"""What the alerts service takes from the bus: metric samples, the provisioner's facts about instances (what a rule's
scope matches, what an event-rate rule counts), the other services' facts an event-rate rule may count, and the
billing service's budget thresholds."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.consumer import payload_of
from kernel.events import (
    BudgetThresholdCrossed,
    Envelope,
    InstanceRequested,
    InstanceTerminated,
    MetricsSampled,
    TemplateVersionCreated,
)
from kernel.unit_of_work import Transaction, caused_by
from services.alerts.firing import handlers
from services.alerts.rules.domain import Instance
from services.alerts.rules.templates import rules_for_launch
from services.alerts.unit_of_work import Repositories

__all__ = ["BINDINGS", "on_event"]

# The families of facts an event-rate rule may count (and those the rules' judgement needs).
BINDINGS = (
    "metrics.sampled.#",
    "instance.#",
    "volume.#",
    "cluster.#",
    "scaling.#",
    "health.#",
    "failover.#",
    "budget.#",
    "command.refused.#",
    "script_run.#",
    "template.version_created.#",
)


async def on_event(tx: Transaction[Repositories], envelope: Envelope) -> None:
    payload = payload_of(envelope)
    if payload is None:
        return
    origin = caused_by(envelope)
    if isinstance(payload, MetricsSampled):
        await handlers.on_samples(tx, envelope.project_id, payload.samples, origin)
        return
    if isinstance(payload, TemplateVersionCreated):
        if payload.alerts:
            await tx.repos.knowledge.learn_template_alerts(
                envelope.project_id, payload.template_id, payload.version, payload.name, payload.alerts
            )
        return
    if isinstance(payload, BudgetThresholdCrossed):
        await handlers.on_budget(tx, envelope.project_id, payload, origin)
    instance_id = getattr(payload, "instance_id", None)
    now = datetime.now(UTC)
    if isinstance(payload, InstanceRequested):
        await tx.repos.knowledge.learn_instance(
            Instance(
                instance_id=payload.instance_id,
                project_id=envelope.project_id,
                cloud_id=payload.cloud_id,
                tags=dict(payload.tags),
                template_id=payload.template_id,
                state="pending",
                template_version=payload.template_version,
            ),
            now,
        )
        if payload.template_id is not None and payload.template_version is not None:
            await rules_for_launch(tx, envelope.project_id, payload.template_id, payload.template_version, origin)
    elif isinstance(payload, InstanceTerminated):
        await tx.repos.knowledge.forget_instance(payload.instance_id)
    elif envelope.type.startswith("instance.") and isinstance(instance_id, str):
        await tx.repos.knowledge.set_state(instance_id, envelope.type.removeprefix("instance."), now)
    await handlers.on_event(tx, envelope, instance_id if isinstance(instance_id, str) else None, origin)
