"""v1 cloud account events, published by the provisioner. They name credential fields, never their values."""

from __future__ import annotations

from typing import Literal

from kernel.events.envelope import EventPayload


class _CloudEvent(EventPayload):
    cloud_id: str
    name: str
    driver: str
    # The project the account belongs to (the envelope's `project_id` is the caller's).
    project: str

    SUBJECT = "cloud_id"


class CloudAdded(_CloudEvent):
    TYPE = "cloud.added"
    # "api": a project manager added it; "configuration": CLANAVI_PROVISIONER_CLOUDS (or the built-in `sim`).
    source: Literal["api", "configuration"]
    config_fields: list[str]
    credential_fields: list[str]


class CloudUpdated(_CloudEvent):
    TYPE = "cloud.updated"
    source: Literal["api", "configuration"]
    # Top-level fields that changed: "name", "enabled", "config", "credentials".
    changed: list[str]
    config_fields: list[str]
    # Names of the credential fields whose value was set, changed or removed.
    credential_fields: list[str]


class CloudRemoved(_CloudEvent):
    TYPE = "cloud.removed"
    # Removed with `force`: Clanavi's records of the account's live resources went with it (the cloud keeps them).
    forced: bool
    # kind ("instances", "volumes", ...) -> how many records were dropped, and their Clanavi ids.
    forgotten: dict[str, int]
    forgotten_ids: list[str]
