"""The gateway's identity repositories in memory (services.gateway.identity.ports), answering as the PostgreSQL ones
do: the same conflicts, the same "not found" for ids that are not UUIDs, times from the test's clock."""

from __future__ import annotations

import copy
import dataclasses
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kernel.errors import Conflict
from kernel.identity import Role
from kernel.keyset import PageRequest
from kernel.unit_of_work import FakeUnitOfWork
from services.gateway.identity.domain import ApiKey, KeyGrant, Member, Project, RefreshRecord, User, UserGrant
from services.gateway.identity.ports import ApiKeyRow, IdentityRepositories, UserChange
from tests.clock import FakeClock
from tests.fakes.paging import page

__all__ = ["FakeIdentityRepositories", "IdentityTables", "fake_identity", "tables"]


@dataclass
class _RefreshRow:
    id: str
    user_id: str
    family_id: str
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    renewal_key_hash: str | None = None
    successor: bytes | None = None


class IdentityTables:
    """The rows, as a migrated gateway schema starts: project `default` and nothing else. `locks` lists the locks
    the committed transactions took, in order; `reads` counts what authentication read."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._ticks = 0
        self.users: dict[str, User] = {}
        self.password_hashes: dict[str, str] = {}
        self.projects: dict[str, Project] = {"default": Project("default", "Default", self.now())}
        self.roles: dict[tuple[str, str], tuple[Role, datetime]] = {}  # (project, user) -> role, since
        self.keys: dict[str, ApiKey] = {}
        self.key_hashes: dict[str, str] = {}  # key id -> hash
        self.refresh: dict[str, _RefreshRow] = {}  # token hash -> row
        self.locks: list[str] = []
        self.reads = 0

    def now(self) -> datetime:
        """The clock's time, a microsecond later at each call: what is made later sorts later, as in the database."""
        self._ticks += 1
        return datetime.fromtimestamp(self.clock(), UTC) + timedelta(microseconds=self._ticks)

    def __deepcopy__(self, memo: dict[int, Any]) -> IdentityTables:
        # A transaction's copy of the rows reads the same clock as the test moves.
        copied = copy.copy(self)
        memo[id(self)] = copied
        for name, value in vars(self).items():
            if name != "clock":
                setattr(copied, name, copy.deepcopy(value, memo))
        return copied


class _Table:
    def __init__(self, tables: IdentityTables) -> None:
        self._t = tables


class FakeUsers(_Table):
    async def insert(self, *, user_id: str, email: str, name: str, password_hash: str, admin: bool) -> User:
        if any(u.email.lower() == email.lower() for u in self._t.users.values()):
            raise Conflict("A user with this email exists already.")
        now = self._t.now()
        user = User(user_id, email, name, admin, None, now, now)
        self._t.users[user_id] = user
        self._t.password_hashes[user_id] = password_hash
        return user

    async def get(self, user_id: str) -> User | None:
        return self._t.users.get(user_id)

    async def lock(self, user_id: str) -> User | None:
        self._t.locks.append(f"user:{user_id}")
        return self._t.users.get(user_id)

    async def get_in(self, user_id: str, projects: Sequence[str]) -> User | None:
        shares = any((project, user_id) in self._t.roles for project in projects)
        return self._t.users.get(user_id) if shares else None

    async def login(self, email: str) -> tuple[User, str] | None:
        for user in self._t.users.values():
            if user.email.lower() == email.lower():
                return user, self._t.password_hashes[user.id]
        return None

    async def update(self, user_id: str, change: UserChange) -> User:
        before = self._t.users[user_id]
        disabled_at = before.disabled_at
        if change.disabled is not None:
            disabled_at = (disabled_at or self._t.now()) if change.disabled else None
        after = dataclasses.replace(
            before,
            name=before.name if change.name is None else change.name,
            admin=before.admin if change.admin is None else change.admin,
            disabled_at=disabled_at,
            updated_at=self._t.now(),
        )
        self._t.users[user_id] = after
        if change.password_hash is not None:
            self._t.password_hashes[user_id] = change.password_hash
        return after

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._t.password_hashes[user_id] = password_hash

    async def page(
        self, *, email: str | None, admin: bool | None, disabled: bool | None, request: PageRequest
    ) -> tuple[list[User], str | None]:
        rows = [
            u
            for u in self._t.users.values()
            if (email is None or u.email.lower() == email.lower())
            and (admin is None or u.admin == admin)
            and (disabled is None or u.disabled == disabled)
        ]
        sorts = {"created_at": lambda u: u.created_at, "email": lambda u: u.email, "name": lambda u: u.name}
        return page(rows, request, sorts, key=lambda u: u.id)


class FakeProjects(_Table):
    async def insert(self, project_id: str, name: str) -> Project:
        if project_id in self._t.projects:
            raise Conflict(f"Project {project_id} exists already.", project_id=project_id)
        project = Project(project_id, name, self._t.now())
        self._t.projects[project_id] = project
        return project

    async def get(self, project_id: str) -> Project | None:
        return self._t.projects.get(project_id)

    async def page(self, *, member: str | None, request: PageRequest) -> tuple[list[Project], str | None]:
        rows = [p for p in self._t.projects.values() if member is None or (p.id, member) in self._t.roles]
        return page(rows, request, {"created_at": lambda p: p.created_at, "name": lambda p: p.name}, key=lambda p: p.id)

    async def of_user(self, user_id: str) -> list[tuple[Project, Role]]:
        mine = [(self._t.projects[p], role) for (p, u), (role, _) in self._t.roles.items() if u == user_id]
        return sorted(mine, key=lambda pair: pair[0].id)


class FakeMembers(_Table):
    async def lock(self, project_id: str) -> None:
        self._t.locks.append(f"members:{project_id}")

    async def get(self, project_id: str, user_id: str) -> Member | None:
        found = self._t.roles.get((project_id, user_id))
        if found is None:
            return None
        user = self._t.users[user_id]
        return Member(project_id, user_id, user.email, user.name, found[0], found[1])

    async def upsert(self, project_id: str, user_id: str, role: Role) -> None:
        _, since = self._t.roles.get((project_id, user_id), (role, self._t.now()))
        self._t.roles[(project_id, user_id)] = (role, since)

    async def delete(self, project_id: str, user_id: str) -> None:
        self._t.roles.pop((project_id, user_id), None)

    async def count_owners(self, project_id: str) -> int:
        return sum(1 for (p, _), (role, _) in self._t.roles.items() if p == project_id and role is Role.OWNER)

    async def page(
        self, project_id: str, *, role: Role | None, request: PageRequest
    ) -> tuple[list[Member], str | None]:
        rows = [
            Member(p, u, self._t.users[u].email, self._t.users[u].name, r, since)
            for (p, u), (r, since) in self._t.roles.items()
            if p == project_id and (role is None or r is role)
        ]
        sorts = {
            "created_at": lambda m: m.created_at,
            "email": lambda m: m.email,
            "name": lambda m: m.name,
            "role": lambda m: m.role.value,
        }
        return page(rows, request, sorts, key=lambda m: m.user_id)


class FakeApiKeys(_Table):
    async def insert(self, row: ApiKeyRow) -> ApiKey:
        if row.key_hash in self._t.key_hashes.values():
            raise AssertionError("api_keys.key_hash is unique")
        key = ApiKey(
            row.key_id,
            row.name,
            row.prefix,
            row.user_id,
            row.project_id,
            row.role,
            row.admin,
            row.expires_at,
            None,
            self._t.now(),
        )
        self._t.keys[row.key_id] = key
        self._t.key_hashes[row.key_id] = row.key_hash
        return key

    async def get(self, key_id: str) -> ApiKey | None:
        return self._t.keys.get(key_id)

    async def lock(self, key_id: str) -> ApiKey | None:
        self._t.locks.append(f"key:{key_id}")
        return self._t.keys.get(key_id)

    async def revoke(self, key_id: str) -> ApiKey:
        before = self._t.keys[key_id]
        self._t.keys[key_id] = dataclasses.replace(before, revoked_at=before.revoked_at or self._t.now())
        return self._t.keys[key_id]

    async def unowned_admin_keys(self, name: str) -> list[tuple[ApiKey, str]]:
        return [
            (k, self._t.key_hashes[k.id])
            for k in self._t.keys.values()
            if k.name == name and k.user_id is None and k.admin
        ]

    async def hash_exists(self, key_hash: str) -> bool:
        return key_hash in self._t.key_hashes.values()

    async def page(
        self, *, project_id: str | None, user_id: str | None, revoked: bool | None, request: PageRequest
    ) -> tuple[list[ApiKey], str | None]:
        rows = [
            k
            for k in self._t.keys.values()
            if k.project_id == project_id
            and (user_id is None or k.user_id == user_id)
            and (revoked is None or (k.revoked_at is not None) == revoked)
        ]
        return page(rows, request, {"created_at": lambda k: k.created_at, "name": lambda k: k.name}, key=lambda k: k.id)


class FakeRefreshTokens(_Table):
    async def insert(self, *, token_hash: str, user_id: str, family_id: str, ttl_seconds: int) -> None:
        expires_at = self._t.now() + timedelta(seconds=ttl_seconds)
        self._t.refresh[token_hash] = _RefreshRow(str(uuid.uuid4()), user_id, family_id, expires_at)

    async def lock(self, token_hash: str) -> RefreshRecord | None:
        row = self._t.refresh.get(token_hash)
        if row is None:
            return None
        self._t.locks.append(f"refresh:{row.id}")
        return RefreshRecord(
            id=row.id,
            user_id=row.user_id,
            family_id=row.family_id,
            expires_at=row.expires_at,
            used=row.used_at is not None,
            revoked=row.revoked_at is not None,
            expired=row.expires_at <= self._t.now(),
            used_seconds_ago=(self._t.now() - row.used_at).total_seconds() if row.used_at else None,
            renewal_key_hash=row.renewal_key_hash,
            successor=row.successor,
        )

    async def use(self, token_id: str, *, renewal_key_hash: str | None = None, successor: bytes | None = None) -> None:
        for row in self._t.refresh.values():
            if row.id == token_id:
                row.used_at, row.renewal_key_hash, row.successor = self._t.now(), renewal_key_hash, successor

    async def forget_successors(self, family_id: str, *, older_than: float) -> None:
        for row in self._t.refresh.values():
            if row.family_id == family_id and row.used_at is not None:
                if (self._t.now() - row.used_at).total_seconds() > older_than:
                    row.successor = None

    async def revoke_family(self, family_id: str) -> None:
        self._revoke(lambda row: row.family_id == family_id)

    async def revoke_user(self, user_id: str) -> None:
        self._revoke(lambda row: row.user_id == user_id)

    def _revoke(self, which: Any) -> None:
        for row in self._t.refresh.values():
            if which(row) and row.revoked_at is None:
                row.revoked_at = self._t.now()


class FakeGrants(_Table):
    async def key(self, key_hash: str) -> KeyGrant | None:
        self._t.reads += 1
        for key_id, stored in self._t.key_hashes.items():
            key = self._t.keys[key_id]
            if stored == key_hash and key.revoked_at is None:
                expires = key.expires_at.timestamp() if key.expires_at is not None else None
                return KeyGrant(key.id, key.user_id, key.project_id, key.role, key.admin, expires)
        return None

    async def user(self, user_id: str) -> UserGrant | None:
        self._t.reads += 1
        user = self._t.users.get(user_id)
        if user is None or user.disabled:
            return None
        roles = {p: role for (p, u), (role, _) in self._t.roles.items() if u == user_id}
        return UserGrant(user_id, user.admin, roles)

    async def project_exists(self, project_id: str) -> bool:
        self._t.reads += 1
        return project_id in self._t.projects

    async def session_alive(self, session_id: str) -> bool:
        self._t.reads += 1
        return any(r.family_id == session_id and r.revoked_at is None for r in self._t.refresh.values())


class FakeIdentityRepositories:
    def __init__(self, tables: IdentityTables) -> None:
        self.tables = tables
        self.users = FakeUsers(tables)
        self.projects = FakeProjects(tables)
        self.members = FakeMembers(tables)
        self.api_keys = FakeApiKeys(tables)
        self.refresh_tokens = FakeRefreshTokens(tables)
        self.grants = FakeGrants(tables)

    async def lock_seeding(self) -> None:
        self.tables.locks.append("seeding")


def fake_identity(clock: FakeClock | None = None) -> FakeUnitOfWork[IdentityRepositories]:
    """A unit of work over empty identity tables (but project `default`)."""
    repos = FakeIdentityRepositories(IdentityTables(clock or FakeClock(time.time())))
    return FakeUnitOfWork[IdentityRepositories](repos)


def tables(uow: FakeUnitOfWork[IdentityRepositories]) -> IdentityTables:
    """The rows as the last committed transaction left them."""
    repos = uow.repos
    assert isinstance(repos, FakeIdentityRepositories)
    return repos.tables
