"""The gateway's identity tables (schema `gateway`): users, projects, memberships and API keys, each a repository bound
to the connection its unit of work opened; and the whole set the unit of work hands to the use cases (refresh tokens
and authentication's reads are services.gateway.identity.auth_repository's)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from kernel.db import Connection, from_row
from kernel.errors import Conflict
from kernel.identity import Role
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.gateway.identity.auth_repository import Grants, RefreshTokens
from services.gateway.identity.domain import ApiKey, Member, Project, User
from services.gateway.identity.ports import ApiKeyRow, UserChange

__all__ = [
    "API_KEY_LISTING",
    "MEMBER_LISTING",
    "PROJECT_LISTING",
    "USER_LISTING",
    "ApiKeys",
    "Members",
    "Projects",
    "Repositories",
    "Users",
]

# Each names the columns of a record's fields (kernel.db.from_row reads them back).
_USER = "id, email, name, is_admin AS admin, disabled_at, created_at, updated_at"
_KEY = "id, name, prefix, user_id, project_id, role, is_admin AS admin, expires_at, revoked_at, created_at"
_MEMBER = "m.project_id, m.user_id, u.email, u.name, m.role, m.created_at"

# The sorts each listing offers (services.gateway.identity.listing names them for the API); the first is the default.
_CREATED = Column("created_at", "timestamptz")
USER_LISTING = Listing(
    f"SELECT {_USER} FROM users",
    {"created_at": _CREATED, "email": Column("email", "text"), "name": Column("name", "text")},
    Column("id", "uuid"),
)
PROJECT_LISTING = Listing(
    "SELECT p.id, p.name, p.created_at FROM projects p",
    {"created_at": Column("p.created_at", "timestamptz"), "name": Column("p.name", "text")},
    Column("p.id", "text"),
)
MEMBER_LISTING = Listing(
    f"SELECT {_MEMBER} FROM memberships m JOIN users u ON u.id = m.user_id",
    {
        "created_at": Column("m.created_at", "timestamptz"),
        "email": Column("u.email", "text"),
        "name": Column("u.name", "text"),
        "role": Column("m.role", "text"),
    },
    Column("m.user_id", "uuid"),
)
API_KEY_LISTING = Listing(
    f"SELECT {_KEY} FROM api_keys", {"created_at": _CREATED, "name": Column("name", "text")}, Column("id", "uuid")
)


def _user(row: Any) -> User:
    return from_row(User, row)


def _project(row: Any) -> Project:
    return from_row(Project, row)


def _member(row: Any) -> Member:
    return from_row(Member, row, role=Role(row["role"]))


def _key(row: Any) -> ApiKey:
    return from_row(ApiKey, row, role=Role(row["role"]))


def _uuid(value: str) -> uuid.UUID | None:
    """The id as a UUID; None for a string that is none, which no row has (callers answer "not found")."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


T = TypeVar("T")


class _Bound:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def _one(self, select: str, row_id: str, record: Callable[[Any], T], *, lock: bool) -> T | None:
        """The row `select` finds by `row_id`, locked until the transaction ends when asked."""
        key = _uuid(row_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(f"{select} WHERE id = $1{' FOR UPDATE' if lock else ''}", key)
        return record(row) if row else None


class Users(_Bound):
    async def insert(self, *, user_id: str, email: str, name: str, password_hash: str, admin: bool) -> User:
        try:
            row = await self._conn.fetchrow(
                f"INSERT INTO users (id, email, name, password_hash, is_admin) VALUES ($1, $2, $3, $4, $5)"
                f" RETURNING {_USER}",
                uuid.UUID(user_id),
                email,
                name,
                password_hash,
                admin,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("A user with this email exists already.") from None
        return _user(row)

    async def get(self, user_id: str) -> User | None:
        return await self._one(f"SELECT {_USER} FROM users", user_id, _user, lock=False)

    async def lock(self, user_id: str) -> User | None:
        return await self._one(f"SELECT {_USER} FROM users", user_id, _user, lock=True)

    async def get_in(self, user_id: str, projects: Sequence[str]) -> User | None:
        key = _uuid(user_id)
        if key is None or not projects:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_USER} FROM users u WHERE id = $1"
            " AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.project_id = ANY($2::text[]))",
            key,
            list(projects),
        )
        return _user(row) if row else None

    async def login(self, email: str) -> tuple[User, str] | None:
        row = await self._conn.fetchrow(
            f"SELECT {_USER}, password_hash FROM users WHERE lower(email) = lower($1)", email
        )
        return (_user(row), row["password_hash"]) if row else None

    async def update(self, user_id: str, change: UserChange) -> User:
        row = await self._conn.fetchrow(
            f"""UPDATE users SET
                  name = coalesce($2, name),
                  password_hash = coalesce($3, password_hash),
                  is_admin = coalesce($4, is_admin),
                  disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at
                                     WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END,
                  updated_at = now()
                WHERE id = $1 RETURNING {_USER}""",
            uuid.UUID(user_id),
            change.name,
            change.password_hash,
            change.admin,
            change.disabled,
        )
        assert row is not None, "update on a user the caller did not lock"
        return _user(row)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", uuid.UUID(user_id), password_hash)

    async def page(
        self, *, email: str | None, admin: bool | None, disabled: bool | None, request: PageRequest
    ) -> tuple[list[User], str | None]:
        where = Where().given("lower(email) = lower({})", email).given("is_admin = {}", admin)
        if disabled is not None:
            where.add("disabled_at IS NOT NULL" if disabled else "disabled_at IS NULL")
        return await fetch_page(self._conn, USER_LISTING, where, request, _user)


class Projects(_Bound):
    async def insert(self, project_id: str, name: str) -> Project:
        try:
            row = await self._conn.fetchrow(
                "INSERT INTO projects (id, name) VALUES ($1, $2) RETURNING id, name, created_at", project_id, name
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"Project {project_id} exists already.", project_id=project_id) from None
        return _project(row)

    async def get(self, project_id: str) -> Project | None:
        row = await self._conn.fetchrow("SELECT id, name, created_at FROM projects WHERE id = $1", project_id)
        return _project(row) if row else None

    async def page(self, *, member: str | None, request: PageRequest) -> tuple[list[Project], str | None]:
        where = Where()
        if member is not None:
            member_id = uuid.UUID(member)
            where.add("EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = p.id AND m.user_id = {})", member_id)
        return await fetch_page(self._conn, PROJECT_LISTING, where, request, _project)

    async def of_user(self, user_id: str) -> list[tuple[Project, Role]]:
        rows = await self._conn.fetch(
            "SELECT p.id, p.name, p.created_at, m.role FROM memberships m JOIN projects p ON p.id = m.project_id"
            " WHERE m.user_id = $1 ORDER BY p.id",
            uuid.UUID(user_id),
        )
        return [(_project(r), Role(r["role"])) for r in rows]


class Members(_Bound):
    async def lock(self, project_id: str) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway-members:' || $1))", project_id)

    async def get(self, project_id: str, user_id: str) -> Member | None:
        key = _uuid(user_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_MEMBER} FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.project_id = $1 AND m.user_id = $2",
            project_id,
            key,
        )
        return _member(row) if row else None

    async def upsert(self, project_id: str, user_id: str, role: Role) -> None:
        await self._conn.execute(
            "INSERT INTO memberships (project_id, user_id, role) VALUES ($1, $2, $3)"
            " ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
            project_id,
            uuid.UUID(user_id),
            role.value,
        )

    async def delete(self, project_id: str, user_id: str) -> None:
        await self._conn.execute(
            "DELETE FROM memberships WHERE project_id = $1 AND user_id = $2", project_id, uuid.UUID(user_id)
        )

    async def count_owners(self, project_id: str) -> int:
        count: int = await self._conn.fetchval(
            "SELECT count(*) FROM memberships WHERE project_id = $1 AND role = 'owner'", project_id
        )
        return count

    async def page(
        self, project_id: str, *, role: Role | None, request: PageRequest
    ) -> tuple[list[Member], str | None]:
        where = Where().add("m.project_id = {}", project_id).given("m.role = {}", role.value if role else None)
        return await fetch_page(self._conn, MEMBER_LISTING, where, request, _member)


class ApiKeys(_Bound):
    async def insert(self, row: ApiKeyRow) -> ApiKey:
        stored = await self._conn.fetchrow(
            "INSERT INTO api_keys (id, name, key_hash, prefix, user_id, project_id, role, is_admin, expires_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_KEY}",
            uuid.UUID(row.key_id),
            row.name,
            row.key_hash,
            row.prefix,
            uuid.UUID(row.user_id) if row.user_id else None,
            row.project_id,
            row.role.value,
            row.admin,
            row.expires_at,
        )
        return _key(stored)

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._one(f"SELECT {_KEY} FROM api_keys", key_id, _key, lock=False)

    async def lock(self, key_id: str) -> ApiKey | None:
        return await self._one(f"SELECT {_KEY} FROM api_keys", key_id, _key, lock=True)

    async def revoke(self, key_id: str) -> ApiKey:
        row = await self._conn.fetchrow(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {_KEY}",
            uuid.UUID(key_id),
        )
        assert row is not None, "revoke on a key the caller did not lock"
        return _key(row)

    async def unowned_admin_keys(self, name: str) -> list[tuple[ApiKey, str]]:
        rows = await self._conn.fetch(
            f"SELECT {_KEY}, key_hash FROM api_keys WHERE name = $1 AND user_id IS NULL AND is_admin FOR UPDATE",
            name,
        )
        return [(_key(r), r["key_hash"]) for r in rows]

    async def hash_exists(self, key_hash: str) -> bool:
        return bool(await self._conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_hash = $1)", key_hash))

    async def page(
        self, *, project_id: str | None, user_id: str | None, revoked: bool | None, request: PageRequest
    ) -> tuple[list[ApiKey], str | None]:
        where = Where()
        if project_id is None:
            where.add("project_id IS NULL")
        else:
            where.add("project_id = {}", project_id)
        if user_id is not None:
            owner = _uuid(user_id)
            if owner is None:
                return [], None
            where.add("user_id = {}", owner)
        if revoked is not None:
            where.add("revoked_at IS NOT NULL" if revoked else "revoked_at IS NULL")
        return await fetch_page(self._conn, API_KEY_LISTING, where, request, _key)


class Repositories:
    """The identity repositories on one connection, as the unit of work hands them to the use cases."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.users = Users(conn)
        self.projects = Projects(conn)
        self.members = Members(conn)
        self.api_keys = ApiKeys(conn)
        self.refresh_tokens = RefreshTokens(conn)
        self.grants = Grants(conn)

    async def lock_seeding(self) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway-bootstrap:' || current_schema()))")
