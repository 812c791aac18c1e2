"""Keeping the scaler's copy of the projects' template versions from the provisioner's `template.*` events."""

from __future__ import annotations

from kernel.events import (
    EventPayload,
    TemplateCreated,
    TemplateDeleted,
    TemplateVersionCreated,
    TemplateVersionDeleted,
    TemplateVersionDeprecated,
)
from services.scaler.unit_of_work import ScalerTransaction

__all__ = ["on_template_event"]


async def on_template_event(tx: ScalerTransaction, project_id: str, event: EventPayload) -> None:
    templates = tx.repos.templates
    if isinstance(event, TemplateCreated):
        await templates.add(project_id, event.template_id, 1)
    elif isinstance(event, TemplateVersionCreated):
        await templates.add(project_id, event.template_id, event.version)
    elif isinstance(event, TemplateVersionDeprecated):
        await templates.deprecate(project_id, event.template_id, event.version, event.deprecated)
    elif isinstance(event, TemplateVersionDeleted):
        await templates.remove(event.template_id, event.version)
    elif isinstance(event, TemplateDeleted):
        await templates.remove(event.template_id)
