"""The gateway's identity tables (schema `gateway`): users, projects, memberships, API keys and refresh tokens.

Functions take a connection inside the caller's transaction, or the pool for reads that need none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from kernel.db import Connection, Pool
from kernel.errors import Conflict
from kernel.identity import Role
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.gateway.identity.domain import ApiKey, KeyGrant, Member, Project, User, UserGrant

__all__ = [
    "RefreshRecord",
    "count_owners",
    "delete_member",
    "get_api_key",
    "get_member",
    "get_project",
    "get_user",
    "get_user_in",
    "insert_api_key",
    "insert_project",
    "insert_refresh_token",
    "insert_user",
    "key_grant",
    "lock_refresh_token",
    "page_api_keys",
    "page_members",
    "page_projects",
    "page_users",
    "project_exists",
    "revoke_api_key",
    "revoke_refresh_family",
    "revoke_refresh_tokens_of",
    "session_alive",
    "update_user",
    "upsert_member",
    "use_refresh_token",
    "user_grant",
    "user_login",
    "user_projects",
]

Reader = Pool | Connection

_USER = "id, email, name, is_admin, disabled_at, created_at, updated_at"
_KEY = "id, name, prefix, user_id, project_id, role, is_admin, expires_at, revoked_at, created_at"
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
    return User(
        id=str(row["id"]),
        email=row["email"],
        name=row["name"],
        admin=row["is_admin"],
        disabled_at=row["disabled_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _project(row: Any) -> Project:
    return Project(id=row["id"], name=row["name"], created_at=row["created_at"])


def _member(row: Any) -> Member:
    return Member(
        project_id=row["project_id"],
        user_id=str(row["user_id"]),
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=str(row["id"]),
        name=row["name"],
        prefix=row["prefix"],
        user_id=str(row["user_id"]) if row["user_id"] else None,
        project_id=row["project_id"],
        role=Role(row["role"]),
        admin=row["is_admin"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# --- what authentication reads ---------------------------------------------------------------------------------


async def key_grant(db: Reader, key_hash: str) -> KeyGrant | None:
    row = await db.fetchrow(
        "SELECT id, user_id, project_id, role, is_admin, extract(epoch FROM expires_at) AS expires"
        " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        key_hash,
    )
    if row is None:
        return None
    return KeyGrant(
        key_id=str(row["id"]),
        user_id=str(row["user_id"]) if row["user_id"] else None,
        project_id=row["project_id"],
        role=Role(row["role"]),
        admin=row["is_admin"],
        expires_at=float(row["expires"]) if row["expires"] is not None else None,
    )


async def user_grant(db: Reader, user_id: str) -> UserGrant | None:
    """The user, when it exists and is not disabled, with its memberships."""
    row = await db.fetchrow(
        "SELECT u.is_admin, coalesce(jsonb_object_agg(m.project_id, m.role)"
        "   FILTER (WHERE m.project_id IS NOT NULL), '{}'::jsonb) AS roles"
        " FROM users u LEFT JOIN memberships m ON m.user_id = u.id"
        " WHERE u.id = $1 AND u.disabled_at IS NULL GROUP BY u.id",
        uuid.UUID(user_id),
    )
    if row is None:
        return None
    return UserGrant(user_id, row["is_admin"], {p: Role(r) for p, r in row["roles"].items()})


async def project_exists(db: Reader, project_id: str) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id))


# --- users -----------------------------------------------------------------------------------------------------


async def insert_user(
    conn: Connection, *, user_id: str, email: str, name: str, password_hash: str, admin: bool
) -> User:
    try:
        row = await conn.fetchrow(
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


async def get_user(db: Reader, user_id: str, *, lock: bool = False) -> User | None:
    key = _uuid(user_id)
    if key is None:
        return None
    row = await db.fetchrow(f"SELECT {_USER} FROM users WHERE id = $1{' FOR UPDATE' if lock else ''}", key)
    return _user(row) if row else None


async def get_user_in(db: Reader, user_id: str, projects: Sequence[str]) -> User | None:
    """The user, when it is a member of at least one of `projects`."""
    key = _uuid(user_id)
    if key is None or not projects:
        return None
    row = await db.fetchrow(
        f"SELECT {_USER} FROM users u WHERE id = $1"
        " AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.project_id = ANY($2::text[]))",
        key,
        list(projects),
    )
    return _user(row) if row else None


async def user_login(db: Reader, email: str) -> tuple[User, str] | None:
    """The user with this email (in any case) and its password hash."""
    row = await db.fetchrow(f"SELECT {_USER}, password_hash FROM users WHERE lower(email) = lower($1)", email)
    return (_user(row), row["password_hash"]) if row else None


async def update_user(
    conn: Connection,
    user_id: str,
    *,
    name: str | None = None,
    password_hash: str | None = None,
    admin: bool | None = None,
    disabled: bool | None = None,
) -> User:
    row = await conn.fetchrow(
        f"""UPDATE users SET
              name = coalesce($2, name),
              password_hash = coalesce($3, password_hash),
              is_admin = coalesce($4, is_admin),
              disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at
                                 WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END,
              updated_at = now()
            WHERE id = $1 RETURNING {_USER}""",
        uuid.UUID(user_id),
        name,
        password_hash,
        admin,
        disabled,
    )
    assert row is not None, "update_user on a user the caller did not lock"
    return _user(row)


async def set_password_hash(conn: Reader, user_id: str, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", uuid.UUID(user_id), password_hash)


async def page_users(
    db: Reader, *, email: str | None, admin: bool | None, disabled: bool | None, request: PageRequest
) -> tuple[list[User], str | None]:
    where = Where().given("lower(email) = lower({})", email).given("is_admin = {}", admin)
    if disabled is not None:
        where.add("disabled_at IS NOT NULL" if disabled else "disabled_at IS NULL")
    return await fetch_page(db, USER_LISTING, where, request, _user)


# --- projects and memberships ----------------------------------------------------------------------------------


async def insert_project(conn: Connection, project_id: str, name: str) -> Project:
    try:
        row = await conn.fetchrow(
            "INSERT INTO projects (id, name) VALUES ($1, $2) RETURNING id, name, created_at", project_id, name
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"Project {project_id} exists already.", project_id=project_id) from None
    return _project(row)


async def get_project(db: Reader, project_id: str) -> Project | None:
    row = await db.fetchrow("SELECT id, name, created_at FROM projects WHERE id = $1", project_id)
    return _project(row) if row else None


async def page_projects(db: Reader, *, member: str | None, request: PageRequest) -> tuple[list[Project], str | None]:
    """Every project, or those `member` (a user id) belongs to."""
    where = Where()
    if member is not None:
        member_id = uuid.UUID(member)
        where.add("EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = p.id AND m.user_id = {})", member_id)
    return await fetch_page(db, PROJECT_LISTING, where, request, _project)


async def user_projects(db: Reader, user_id: str) -> list[tuple[Project, Role]]:
    rows = await db.fetch(
        "SELECT p.id, p.name, p.created_at, m.role FROM memberships m JOIN projects p ON p.id = m.project_id"
        " WHERE m.user_id = $1 ORDER BY p.id",
        uuid.UUID(user_id),
    )
    return [(_project(r), Role(r["role"])) for r in rows]


async def get_member(db: Reader, project_id: str, user_id: str) -> Member | None:
    row = await db.fetchrow(
        f"SELECT {_MEMBER} FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.project_id = $1 AND m.user_id = $2",
        project_id,
        uuid.UUID(user_id),
    )
    return _member(row) if row else None


async def lock_memberships(conn: Connection, project_id: str) -> None:
    """Serialise changes to one project's members, so two removals cannot each leave the other as last owner."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway-members:' || $1))", project_id)


async def upsert_member(conn: Connection, project_id: str, user_id: str, role: Role) -> None:
    await conn.execute(
        "INSERT INTO memberships (project_id, user_id, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        project_id,
        uuid.UUID(user_id),
        role.value,
    )


async def delete_member(conn: Connection, project_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM memberships WHERE project_id = $1 AND user_id = $2", project_id, uuid.UUID(user_id))


async def count_owners(conn: Connection, project_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM memberships WHERE project_id = $1 AND role = 'owner'", project_id
    )
    return count


async def page_members(
    db: Reader, project_id: str, *, role: Role | None, request: PageRequest
) -> tuple[list[Member], str | None]:
    where = Where().add("m.project_id = {}", project_id).given("m.role = {}", role.value if role else None)
    return await fetch_page(db, MEMBER_LISTING, where, request, _member)


# --- API keys --------------------------------------------------------------------------------------------------


async def insert_api_key(
    conn: Connection,
    *,
    key_id: str,
    name: str,
    key_hash: str,
    prefix: str,
    user_id: str | None,
    project_id: str | None,
    role: Role,
    admin: bool,
    expires_at: datetime | None,
) -> ApiKey:
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, name, key_hash, prefix, user_id, project_id, role, is_admin, expires_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_KEY}",
        uuid.UUID(key_id),
        name,
        key_hash,
        prefix,
        uuid.UUID(user_id) if user_id else None,
        project_id,
        role.value,
        admin,
        expires_at,
    )
    return _key(row)


async def get_api_key(db: Reader, key_id: str, *, lock: bool = False) -> ApiKey | None:
    key = _uuid(key_id)
    if key is None:
        return None
    row = await db.fetchrow(f"SELECT {_KEY} FROM api_keys WHERE id = $1{' FOR UPDATE' if lock else ''}", key)
    return _key(row) if row else None


async def revoke_api_key(conn: Connection, key_id: str) -> ApiKey:
    row = await conn.fetchrow(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {_KEY}",
        uuid.UUID(key_id),
    )
    assert row is not None, "revoke_api_key on a key the caller did not lock"
    return _key(row)


async def bootstrap_keys(conn: Connection, name: str) -> list[tuple[ApiKey, str]]:
    """The admin keys nobody owns named `name`, with their hashes, locked."""
    rows = await conn.fetch(
        f"SELECT {_KEY}, key_hash FROM api_keys WHERE name = $1 AND user_id IS NULL AND is_admin FOR UPDATE", name
    )
    return [(_key(r), r["key_hash"]) for r in rows]


async def key_hash_exists(conn: Connection, key_hash: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_hash = $1)", key_hash))


async def page_api_keys(
    db: Reader,
    *,
    project_id: str | None,
    user_id: str | None,
    revoked: bool | None,
    request: PageRequest,
) -> tuple[list[ApiKey], str | None]:
    """The keys bound to `project_id`, or with None the admin keys (bound to no project)."""
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
    return await fetch_page(db, API_KEY_LISTING, where, request, _key)


# --- refresh tokens --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    id: str
    user_id: str
    family_id: str
    expires_at: datetime
    used: bool
    revoked: bool
    expired: bool


async def insert_refresh_token(
    conn: Connection, *, token_hash: str, user_id: str, family_id: str, ttl_seconds: int
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (id, token_hash, user_id, family_id, expires_at)"
        " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        uuid.uuid4(),
        token_hash,
        uuid.UUID(user_id),
        uuid.UUID(family_id),
        float(ttl_seconds),
    )


async def lock_refresh_token(conn: Connection, token_hash: str) -> RefreshRecord | None:
    row = await conn.fetchrow(
        "SELECT id, user_id, family_id, expires_at, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked,"
        " expires_at <= now() AS expired FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        token_hash,
    )
    if row is None:
        return None
    return RefreshRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        family_id=str(row["family_id"]),
        expires_at=row["expires_at"],
        used=row["used"],
        revoked=row["revoked"],
        expired=row["expired"],
    )


async def use_refresh_token(conn: Connection, token_id: str) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = $1", uuid.UUID(token_id))


async def revoke_refresh_family(conn: Connection, family_id: str) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        uuid.UUID(family_id),
    )


async def session_alive(db: Reader, session_id: str) -> bool:
    """Whether a login goes on: some refresh token of its family is not revoked (logging out, a reused refresh token,
    a password change and disabling the user revoke them all)."""
    alive: Any = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL)",
        uuid.UUID(session_id),
    )
    return bool(alive)


async def revoke_refresh_tokens_of(conn: Connection, user_id: str) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", uuid.UUID(user_id)
    )
