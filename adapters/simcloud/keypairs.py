"""Key pairs: SimCloud keeps the public half and its fingerprint; a created key's private half is shown once."""

from __future__ import annotations

from typing import Any

from adapters.base import CloudNotFound, InvalidCloudRequest, KeyPair
from adapters.simcloud import keys
from adapters.simcloud.store import SCHEMA, SimStore
from kernel import db

MAX_NAME = 255


def key_pair_from_row(row: Any) -> KeyPair:
    return KeyPair(
        name=row["name"],
        fingerprint=row["fingerprint"],
        extra={"key_type": row["key_type"], "public_key": row["public_key"]},
    )


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME or not name.isascii() or not name.isprintable():
        raise InvalidCloudRequest(f"a key pair name is 1 to {MAX_NAME} printable ASCII characters")


async def exists(store: SimStore, conn: db.Connection, name: str) -> bool:
    found = await conn.fetchval(
        f"SELECT 1 FROM {SCHEMA}.key_pairs WHERE account_id = $1 AND name = $2", store.account, name
    )
    return found is not None


async def public_key(store: SimStore, conn: db.Connection, name: str) -> str | None:
    found: str | None = await conn.fetchval(
        f"SELECT public_key FROM {SCHEMA}.key_pairs WHERE account_id = $1 AND name = $2", store.account, name
    )
    return found


class KeyPairs:
    def __init__(self, store: SimStore) -> None:
        self._store = store

    async def list(self) -> list[KeyPair]:
        rows = await self._store.pool.fetch(
            f"SELECT * FROM {SCHEMA}.key_pairs WHERE account_id = $1 ORDER BY name", self._store.account
        )
        return [key_pair_from_row(r) for r in rows]

    async def _insert(self, name: str, public: keys.PublicKey) -> KeyPair:
        async with self._store.writing() as conn:
            if await exists(self._store, conn, name):
                raise InvalidCloudRequest(f"a key pair named {name!r} already exists")
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.key_pairs (account_id, name, key_type, fingerprint, public_key, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
                self._store.account,
                name,
                public.key_type,
                public.fingerprint,
                public.openssh,
                self._store.clock(),
            )
            return key_pair_from_row(row)

    async def create(self, name: str) -> KeyPair:
        _check_name(name)
        # Ed25519 keys take microseconds to make: no need to leave the event loop.
        generated = keys.generate()
        stored = await self._insert(name, generated.public)
        return KeyPair(stored.name, stored.fingerprint, private_key=generated.private_openssh, extra=stored.extra)

    async def import_(self, name: str, public_key: str) -> KeyPair:
        _check_name(name)
        try:
            public = keys.parse_public(public_key)
        except keys.BadPublicKey as exc:
            raise InvalidCloudRequest(str(exc)) from None
        return await self._insert(name, public)

    async def delete(self, name: str) -> None:
        async with self._store.writing() as conn:
            deleted = await conn.fetchval(
                f"DELETE FROM {SCHEMA}.key_pairs WHERE account_id = $1 AND name = $2 RETURNING name",
                self._store.account,
                name,
            )
            if deleted is None:
                raise CloudNotFound(f"key pair {name} does not exist")
