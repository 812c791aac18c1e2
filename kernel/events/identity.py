"""v1 identity events, published by the gateway: users, projects, memberships and API keys.

No password, password hash, token or key (not even a part of one) ever travels in these events. `actor` is the
principal that made the change (`user:<id>`, `key:<id>`, or `system` for what the gateway seeds at start).
Facts about the platform rather than one project (users, admin keys, projects being created) are recorded in
`PLATFORM_SCOPE`; memberships and a project's own keys in the project they concern.
"""

from __future__ import annotations

from datetime import datetime

from kernel.events.envelope import EventPayload

__all__ = [
    "PLATFORM_SCOPE",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "MemberAdded",
    "MemberChanged",
    "MemberRemoved",
    "ProjectCreated",
    "UserCreated",
    "UserUpdated",
]

# The project id of events about the platform itself. No project can have it (project ids match
# ^[a-z0-9][a-z0-9-]{1,62}$), so no project's members ever list these events; platform admins read them apart.
PLATFORM_SCOPE = "_platform"


class _UserEvent(EventPayload):
    user_id: str
    actor: str

    SUBJECT = "user_id"


class UserCreated(_UserEvent):
    TYPE = "user.created"
    admin: bool


class UserUpdated(_UserEvent):
    """`changed` names the fields the change touched (`password` only says that it changed)."""

    TYPE = "user.updated"
    changed: list[str]
    admin: bool
    disabled: bool


class ProjectCreated(EventPayload):
    TYPE = "project.created"
    project_id: str
    name: str
    actor: str

    SUBJECT = "project_id"


class _MemberEvent(EventPayload):
    user_id: str
    role: str
    actor: str

    SUBJECT = "user_id"


class MemberAdded(_MemberEvent):
    TYPE = "member.added"


class MemberChanged(_MemberEvent):
    TYPE = "member.changed"
    previous_role: str


class MemberRemoved(_MemberEvent):
    TYPE = "member.removed"


class _ApiKeyEvent(EventPayload):
    key_id: str
    name: str
    actor: str

    SUBJECT = "key_id"


class ApiKeyCreated(_ApiKeyEvent):
    """An admin key is bound to no project (`bound` false) and acts as an owner of every project."""

    TYPE = "api_key.created"
    role: str
    admin: bool
    bound: bool
    user_id: str | None
    expires_at: datetime | None


class ApiKeyRevoked(_ApiKeyEvent):
    TYPE = "api_key.revoked"
