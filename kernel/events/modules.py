"""v1 adapter module events, published by the provisioner when an admin enables or disables an adapter."""

from __future__ import annotations

from kernel.events.envelope import EventPayload


class _ModuleEvent(EventPayload):
    module: str
    # The cloud accounts that use the adapter, whose operations the change resumes or holds.
    cloud_ids: list[str]

    SUBJECT = "module"


class ModuleEnabled(_ModuleEvent):
    TYPE = "module.enabled"


class ModuleDisabled(_ModuleEvent):
    TYPE = "module.disabled"
