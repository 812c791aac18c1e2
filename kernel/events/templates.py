"""v1 script and server template events, published by the provisioner. They name versions, never bodies or input
values: a template's values may be secrets, and a script's body may quote them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kernel.events.envelope import EventPayload


class _ScriptEvent(EventPayload):
    script_id: str
    name: str

    SUBJECT = "script_id"


class ScriptCreated(_ScriptEvent):
    """A script and its version 1."""

    TYPE = "script.created"
    phase: Literal["boot", "operational", "decommission"]


class ScriptVersionCreated(_ScriptEvent):
    TYPE = "script.version_created"
    version: int


class ScriptVersionDeprecated(_ScriptEvent):
    """A version is deprecated (`deprecated` true) or in use again (false): no new template may name it."""

    TYPE = "script.version_deprecated"
    version: int
    deprecated: bool


class ScriptVersionDeleted(_ScriptEvent):
    TYPE = "script.version_deleted"
    version: int


class ScriptDeleted(_ScriptEvent):
    TYPE = "script.deleted"


class _TemplateEvent(EventPayload):
    template_id: str
    name: str

    SUBJECT = "template_id"


class TemplateCreated(_TemplateEvent):
    """A server template and its version 1 (the default)."""

    TYPE = "template.created"


class TemplateVersionCreated(_TemplateEvent):
    TYPE = "template.version_created"
    version: int
    # The script versions it runs, as "<script id>:<version>".
    scripts: list[str]
    # Added in place: the version's alert specs (alert rule bodies), which the alerts service turns into rules on
    # the servers launched from the version. Never the template's values.
    alerts: list[dict[str, Any]] = Field(default_factory=list)


class TemplateVersionDeprecated(_TemplateEvent):
    TYPE = "template.version_deprecated"
    version: int
    deprecated: bool


class TemplateDefaultChanged(_TemplateEvent):
    """Launches naming no version use this one from now on."""

    TYPE = "template.default_changed"
    version: int


class TemplateVersionDeleted(_TemplateEvent):
    TYPE = "template.version_deleted"
    version: int


class TemplateDeleted(_TemplateEvent):
    TYPE = "template.deleted"
