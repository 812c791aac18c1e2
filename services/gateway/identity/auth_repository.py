"""What logging in and authenticating read and write in the gateway's schema: the refresh tokens of each login, and
the grants the authenticator reads of API keys, users, projects and logins on a request it has not cached."""

from __future__ import annotations

import uuid
from typing import Any

from kernel.db import Connection, from_row
from kernel.identity import Role
from services.gateway.identity.domain import KeyGrant, RefreshRecord, UserGrant

__all__ = ["Grants", "RefreshTokens"]


class RefreshTokens:
    """A login is a family of refresh tokens: each is used once and succeeded by another of the family."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, *, token_hash: str, user_id: str, family_id: str, ttl_seconds: int) -> None:
        await self._conn.execute(
            "INSERT INTO refresh_tokens (id, token_hash, user_id, family_id, expires_at)"
            " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
            uuid.uuid4(),
            token_hash,
            uuid.UUID(user_id),
            uuid.UUID(family_id),
            float(ttl_seconds),
        )

    async def lock(self, token_hash: str) -> RefreshRecord | None:
        row = await self._conn.fetchrow(
            "SELECT id, user_id, family_id, expires_at, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked,"
            " expires_at <= now() AS expired, extract(epoch FROM now() - used_at)::float8 AS used_seconds_ago,"
            " renewal_key_hash, successor FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            token_hash,
        )
        return from_row(RefreshRecord, row) if row is not None else None

    async def use(self, token_id: str, *, renewal_key_hash: str | None = None, successor: bytes | None = None) -> None:
        await self._conn.execute(
            "UPDATE refresh_tokens SET used_at = now(), renewal_key_hash = $2, successor = $3 WHERE id = $1",
            uuid.UUID(token_id),
            renewal_key_hash,
            successor,
        )

    async def forget_successors(self, family_id: str, *, older_than: float) -> None:
        await self._conn.execute(
            "UPDATE refresh_tokens SET successor = NULL WHERE family_id = $1 AND successor IS NOT NULL"
            " AND used_at < now() - make_interval(secs => $2)",
            uuid.UUID(family_id),
            older_than,
        )

    async def revoke_family(self, family_id: str) -> None:
        await self._conn.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            uuid.UUID(family_id),
        )

    async def revoke_user(self, user_id: str) -> None:
        await self._conn.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            uuid.UUID(user_id),
        )


class Grants:
    """What authentication reads, one query each (the authenticator caches the answers)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def key(self, key_hash: str) -> KeyGrant | None:
        row = await self._conn.fetchrow(
            "SELECT id AS key_id, user_id, project_id, role, is_admin AS admin,"
            " extract(epoch FROM expires_at)::float8 AS expires_at"
            " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            key_hash,
        )
        return from_row(KeyGrant, row, role=Role(row["role"])) if row is not None else None

    async def user(self, user_id: str) -> UserGrant | None:
        row = await self._conn.fetchrow(
            "SELECT u.is_admin, coalesce(jsonb_object_agg(m.project_id, m.role)"
            "   FILTER (WHERE m.project_id IS NOT NULL), '{}'::jsonb) AS roles"
            " FROM users u LEFT JOIN memberships m ON m.user_id = u.id"
            " WHERE u.id = $1 AND u.disabled_at IS NULL GROUP BY u.id",
            uuid.UUID(user_id),
        )
        if row is None:
            return None
        return UserGrant(user_id, row["is_admin"], {p: Role(r) for p, r in row["roles"].items()})

    async def project_exists(self, project_id: str) -> bool:
        return bool(await self._conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id))

    async def session_alive(self, session_id: str) -> bool:
        alive: Any = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL)",
            uuid.UUID(session_id),
        )
        return bool(alive)
