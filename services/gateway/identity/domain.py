"""The identity model and its rules: roles, who authenticated, and which project and role a request acts in.
No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from kernel.errors import BadRequest, NotFound
from kernel.roles import Identity, Role

__all__ = [
    "DEFAULT_PROJECT",
    "MIN_PASSWORD_LENGTH",
    "PROJECT_ID_PATTERN",
    "ApiKey",
    "KeyGrant",
    "Member",
    "Project",
    "RefreshRecord",
    "Subject",
    "User",
    "UserGrant",
    "key_subject",
    "min_role",
    "role_at_most",
    "select_project",
    "user_subject",
    "valid_project_id",
]

DEFAULT_PROJECT = "default"
# The shortest password a user may set (NIST SP 800-63B asks for at least 8; 12 leaves room for passphrases).
MIN_PASSWORD_LENGTH = 12
PROJECT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
_PROJECT_ID = re.compile(PROJECT_ID_PATTERN)
_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.OWNER: 2}


def min_role(a: Role, b: Role) -> Role:
    return a if _RANK[a] <= _RANK[b] else b


def role_at_most(role: Role, limit: Role) -> bool:
    return _RANK[role] <= _RANK[limit]


def valid_project_id(project_id: str) -> bool:
    return _PROJECT_ID.fullmatch(project_id) is not None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    admin: bool
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    project_id: str
    user_id: str
    email: str
    name: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    user_id: str | None
    project_id: str | None
    role: Role
    admin: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @property
    def state(self) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A refresh token: used once, then succeeded by another of its family (the login)."""

    id: str
    user_id: str
    family_id: str
    expires_at: datetime
    used: bool
    revoked: bool
    expired: bool
    # Since it was used, in seconds; and what a renewal with a key kept: the key's hash, the successor sealed.
    used_seconds_ago: float | None = None
    renewal_key_hash: str | None = None
    successor: bytes | None = field(default=None, repr=False)


# --- what the authenticator knows of a credential ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserGrant:
    """An enabled user as authentication sees it: the admin flag and the roles in its projects."""

    user_id: str
    admin: bool
    memberships: Mapping[str, Role]


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """An API key that is not revoked; `expires_at` (epoch seconds) is checked on every use."""

    key_id: str
    user_id: str | None
    project_id: str | None
    role: Role
    admin: bool
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Subject:
    """Who authenticated, before a project is chosen. A key's `role_cap` bounds whatever its owner may do; a key
    owned by nobody (the admin token's) has no memberships."""

    principal: str
    user_id: str | None
    key_id: str | None
    admin: bool
    owner_admin: bool = False
    bound_project: str | None = None
    role_cap: Role | None = None
    memberships: Mapping[str, Role] = field(default_factory=dict)

    def role_in(self, project_id: str) -> Role | None:
        """The role this subject has in `project_id`, None when it has none there (platform admins aside)."""
        if self.bound_project is not None and project_id != self.bound_project:
            return None
        if self.user_id is None:
            return self.role_cap if self.bound_project is not None else None
        member = Role.OWNER if self.owner_admin else self.memberships.get(project_id)
        if member is None:
            return None
        return member if self.role_cap is None else min_role(self.role_cap, member)

    def projects(self) -> list[str]:
        """The projects this subject is a member of and may act in (a key bound to a project: that one only), sorted;
        platform admins reach every project besides."""
        candidates = {self.bound_project} if self.bound_project is not None else set(self.memberships)
        return sorted(p for p in candidates if self.role_in(p) is not None)


def user_subject(user: UserGrant) -> Subject:
    return Subject(
        principal=f"user:{user.user_id}",
        user_id=user.user_id,
        key_id=None,
        admin=user.admin,
        owner_admin=user.admin,
        memberships=user.memberships,
    )


def key_subject(key: KeyGrant, owner: UserGrant | None) -> Subject:
    """The subject of an API key; `owner` is its user (None for a key nobody owns). A key is an admin key only while
    its owner, if any, is still a platform admin."""
    owner_admin = owner is not None and owner.admin
    return Subject(
        principal=f"key:{key.key_id}",
        user_id=key.user_id,
        key_id=key.key_id,
        admin=key.admin and (owner is None or owner_admin),
        owner_admin=owner_admin,
        bound_project=key.project_id,
        role_cap=key.role,
        memberships=owner.memberships if owner is not None else {},
    )


def _not_found(project_id: str) -> NotFound:
    return NotFound(f"Project {project_id} not found.", project_id=project_id)


def select_project(subject: Subject, requested: str | None, *, requested_exists: bool = False) -> Identity:
    """The identity a request acts as. `requested` is the X-Clanavi-Project header; `requested_exists` whether that
    project exists (asked only for platform admins, the only ones who reach projects they are no member of).

    Anything the subject may not reach is "not found", exactly as a project that does not exist."""
    if requested is not None and not valid_project_id(requested):
        raise _not_found(requested)
    if subject.admin:
        if requested is not None and not requested_exists:
            raise _not_found(requested)
        return Identity(subject.principal, requested or DEFAULT_PROJECT, Role.OWNER, admin=True)
    if requested is not None:
        project_id = requested
    elif subject.bound_project is not None:
        project_id = subject.bound_project
    else:
        project_id = _implicit_project(subject)
    role = subject.role_in(project_id)
    if role is None:
        raise _not_found(project_id)
    return Identity(subject.principal, project_id, role)


def _implicit_project(subject: Subject) -> str:
    projects = sorted(subject.memberships)
    if len(projects) == 1:
        return projects[0]
    if DEFAULT_PROJECT in subject.memberships:
        return DEFAULT_PROJECT
    if not projects:
        raise BadRequest("You are no member of any project yet; ask a project owner to add you.")
    raise BadRequest(
        "You are a member of several projects: choose one with the X-Clanavi-Project header.", projects=projects
    )
