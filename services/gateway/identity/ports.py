"""What the identity use cases need of storage: one repository per table, bound to the unit of work's connection.

services.gateway.identity.repository implements them on PostgreSQL; the unit tests' fakes keep them in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kernel.identity import Role
from kernel.keyset import PageRequest
from kernel.unit_of_work import UnitOfWork
from services.gateway.identity.domain import ApiKey, KeyGrant, Member, Project, RefreshRecord, User, UserGrant

__all__ = [
    "ApiKeyRepository",
    "ApiKeyRow",
    "GrantReads",
    "IdentityRepositories",
    "IdentityUnitOfWork",
    "MemberRepository",
    "ProjectRepository",
    "RefreshTokenRepository",
    "UserChange",
    "UserRepository",
]


@dataclass(frozen=True, slots=True)
class UserChange:
    """What changes of a user: each field that is not None."""

    name: str | None = None
    password_hash: str | None = None
    admin: bool | None = None
    disabled: bool | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """A new API key as it is stored: the key's hash, never the key."""

    key_id: str
    name: str
    key_hash: str
    prefix: str
    user_id: str | None
    project_id: str | None
    role: Role
    admin: bool
    expires_at: datetime | None


class UserRepository(Protocol):
    async def insert(self, *, user_id: str, email: str, name: str, password_hash: str, admin: bool) -> User:
        """Raises Conflict when the email is taken, whatever its case."""

    async def get(self, user_id: str) -> User | None: ...

    async def lock(self, user_id: str) -> User | None:
        """The user, locked until the transaction ends."""

    async def get_in(self, user_id: str, projects: Sequence[str]) -> User | None:
        """The user, when it is a member of at least one of `projects`."""

    async def login(self, email: str) -> tuple[User, str] | None:
        """The user with this email (in any case) and its password hash."""

    async def update(self, user_id: str, change: UserChange) -> User:
        """Changes a user the caller locked."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def page(
        self, *, email: str | None, admin: bool | None, disabled: bool | None, request: PageRequest
    ) -> tuple[list[User], str | None]: ...


class ProjectRepository(Protocol):
    async def insert(self, project_id: str, name: str) -> Project:
        """Raises Conflict when the id is taken."""

    async def get(self, project_id: str) -> Project | None: ...

    async def page(self, *, member: str | None, request: PageRequest) -> tuple[list[Project], str | None]:
        """Every project, or those `member` (a user id) belongs to."""

    async def of_user(self, user_id: str) -> list[tuple[Project, Role]]:
        """The user's projects and its role in each, by id."""


class MemberRepository(Protocol):
    async def lock(self, project_id: str) -> None:
        """Serialise changes to one project's members until the transaction ends, so that two removals cannot each
        leave the other as the last owner."""

    async def get(self, project_id: str, user_id: str) -> Member | None: ...

    async def upsert(self, project_id: str, user_id: str, role: Role) -> None: ...

    async def delete(self, project_id: str, user_id: str) -> None: ...

    async def count_owners(self, project_id: str) -> int: ...

    async def page(
        self, project_id: str, *, role: Role | None, request: PageRequest
    ) -> tuple[list[Member], str | None]: ...


class ApiKeyRepository(Protocol):
    async def insert(self, row: ApiKeyRow) -> ApiKey: ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def lock(self, key_id: str) -> ApiKey | None:
        """The key, locked until the transaction ends."""

    async def revoke(self, key_id: str) -> ApiKey:
        """Revokes a key the caller locked (keeping the time of an earlier revocation)."""

    async def unowned_admin_keys(self, name: str) -> list[tuple[ApiKey, str]]:
        """The admin keys nobody owns named `name`, with their hashes, locked."""

    async def hash_exists(self, key_hash: str) -> bool: ...

    async def page(
        self, *, project_id: str | None, user_id: str | None, revoked: bool | None, request: PageRequest
    ) -> tuple[list[ApiKey], str | None]:
        """The keys bound to `project_id`, or with None the admin keys (bound to no project)."""


class RefreshTokenRepository(Protocol):
    async def insert(self, *, token_hash: str, user_id: str, family_id: str, ttl_seconds: int) -> None: ...

    async def lock(self, token_hash: str) -> RefreshRecord | None:
        """The token with this hash, locked until the transaction ends."""

    async def use(self, token_id: str, *, renewal_key_hash: str | None = None, successor: bytes | None = None) -> None:
        """Marks the token used; with a renewal key, keeps the key's hash and the sealed successor it was traded for."""

    async def forget_successors(self, family_id: str, *, older_than: float) -> None:
        """Drops the sealed successors the login's tokens keep, of those used more than `older_than` seconds ago."""

    async def revoke_family(self, family_id: str) -> None:
        """Ends a login: every token rotated from the same one."""

    async def revoke_user(self, user_id: str) -> None:
        """Ends every login of the user."""


class GrantReads(Protocol):
    """What the authenticator reads on a request whose caller it has not cached: one query each."""

    async def key(self, key_hash: str) -> KeyGrant | None:
        """The API key with this hash, when it is not revoked."""

    async def user(self, user_id: str) -> UserGrant | None:
        """The user, when it exists and is not disabled, with its memberships."""

    async def project_exists(self, project_id: str) -> bool: ...

    async def session_alive(self, session_id: str) -> bool:
        """Whether a login goes on: some refresh token of its family is not revoked."""


class IdentityRepositories(Protocol):
    @property
    def users(self) -> UserRepository: ...
    @property
    def projects(self) -> ProjectRepository: ...
    @property
    def members(self) -> MemberRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...
    @property
    def grants(self) -> GrantReads: ...

    async def lock_seeding(self) -> None:
        """Replicas starting together seed one at a time: held until the transaction ends."""


IdentityUnitOfWork = UnitOfWork[IdentityRepositories]
