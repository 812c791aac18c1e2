"""The `clouds` table: the repository port the use cases use, and its PostgreSQL implementation."""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from kernel.db import Connection, from_row
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner.clouds.domain import Cloud
from services.provisioner.listing import CLOUD_SORTS
from services.provisioner.owned import owned

# The states in which a resource record (of any kind) is of nothing in the cloud any more: each kind's final state,
# and `gone` (the resource rules declare them; a unit test holds the two together).
ENDED = frozenset({"deleted", "released", "deregistered", "gone"})

COLUMNS = (
    "id, project_id, name, driver, config, enabled, created_at, updated_at, credentials, credentials_key_id, "
    "credential_fields, source"
)
# The fields a change of a cloud writes, and those only its insert does (created_at last: it is updated_at too).
_CHANGING = "name driver config enabled credentials credentials_key_id credential_fields".split()
_SET_ONCE = ["project_id", "source", "created_at"]
CLOUD_LISTING = Listing(f"SELECT {COLUMNS} FROM clouds", CLOUD_SORTS, Column("id", "text"))


class NameTaken(Exception):
    def __init__(self, cloud: Cloud) -> None:
        super().__init__(f"project {cloud.project_id} has a cloud named {cloud.name} already")
        self.cloud = cloud


class StillReferenced(Exception):
    """A record of the cloud was written meanwhile: it cannot be deleted."""


class CloudRepository(Protocol):
    async def get(self, project_id: str, cloud_id: str) -> Cloud | None: ...
    async def find(self, cloud_id: str) -> Cloud | None:
        """Any project's cloud: for the engine, the directory and the provisioner's start (requests use `get`)."""
        ...

    async def lock(self, project_id: str, cloud_id: str) -> Cloud | None: ...
    async def lock_any(self, cloud_id: str) -> Cloud | None: ...
    async def named(self, project_id: str, name: str) -> Cloud | None: ...
    async def of_project(self, project_id: str) -> list[Cloud]:
        """The project's clouds, oldest first."""
        ...

    async def every(self) -> list[Cloud]: ...
    async def page(
        self, project_id: str, *, driver: str | None, name: str | None, request: PageRequest
    ) -> tuple[list[Cloud], str | None]: ...
    async def add(self, cloud: Cloud) -> Cloud:
        """Raises NameTaken when the project has a cloud of that name."""
        ...

    async def update(self, cloud: Cloud) -> Cloud:
        """Save every field but the id, project and source; NameTaken as `add`."""
        ...

    async def delete(self, cloud_id: str) -> None:
        """Raises StillReferenced when something still refers to the cloud."""
        ...

    async def sealed_with_other_keys(self, key_id: str) -> list[Cloud]: ...
    async def rewrap(self, cloud_id: str, *, before: bytes, after: bytes, key_id: str) -> bool:
        """Replace the sealed credentials, unless they changed meanwhile; True when replaced."""
        ...

    async def usage(self, cloud_id: str) -> dict[str, list[str]]:
        """Ids of the records Clanavi keeps of live things in the cloud, by kind ("instances", and each resource
        kind). A record whose creation failed before reaching the cloud is not live."""
        ...

    async def forget_records(self, cloud_id: str) -> dict[str, list[str]]:
        """Delete every record of the cloud's instances and resources (none of them is touched in the cloud); their
        ids by kind ("instances", or the resource kind)."""
        ...

    async def using_driver(self, driver: str) -> list[str]: ...


class CloudStore(Protocol):
    """The repositories the clouds' use cases and the cloud directory use."""

    @property
    def clouds(self) -> CloudRepository: ...


async def owned_cloud(repo: CloudRepository, project_id: str, cloud_id: str, *, named_in: str | None = None) -> Cloud:
    """One of the project's clouds (see `owned`)."""
    return owned(await repo.get(project_id, cloud_id), "cloud", cloud_id, named_in=named_in)


def cloud_of(row: Any) -> Cloud:
    return from_row(Cloud, row)


def _taken(exc: asyncpg.UniqueViolationError, cloud: Cloud) -> Exception:
    if getattr(exc, "constraint_name", None) == "clouds_names":
        return NameTaken(cloud)
    return exc


class PostgresCloudRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def _one(self, where: str, *args: Any) -> Cloud | None:
        row = await self._conn.fetchrow(f"SELECT {COLUMNS} FROM clouds WHERE {where}", *args)
        return cloud_of(row) if row else None

    async def _many(self, where: str, *args: Any) -> list[Cloud]:
        rows = await self._conn.fetch(f"SELECT {COLUMNS} FROM clouds WHERE {where}", *args)
        return [cloud_of(r) for r in rows]

    async def get(self, project_id: str, cloud_id: str) -> Cloud | None:
        return await self._one("id = $1 AND project_id = $2", cloud_id, project_id)

    async def find(self, cloud_id: str) -> Cloud | None:
        return await self._one("id = $1", cloud_id)

    async def lock(self, project_id: str, cloud_id: str) -> Cloud | None:
        return await self._one("id = $1 AND project_id = $2 FOR UPDATE", cloud_id, project_id)

    async def lock_any(self, cloud_id: str) -> Cloud | None:
        return await self._one("id = $1 FOR UPDATE", cloud_id)

    async def named(self, project_id: str, name: str) -> Cloud | None:
        return await self._one("project_id = $1 AND name = $2", project_id, name)

    async def of_project(self, project_id: str) -> list[Cloud]:
        return await self._many("project_id = $1 ORDER BY created_at, id", project_id)

    async def every(self) -> list[Cloud]:
        return await self._many("true ORDER BY created_at, id")

    async def page(
        self, project_id: str, *, driver: str | None, name: str | None, request: PageRequest
    ) -> tuple[list[Cloud], str | None]:
        where = Where().add("project_id = {}", project_id).given("driver = {}", driver).given("name = {}", name)
        return await fetch_page(self._conn, CLOUD_LISTING, where, request, cloud_of)

    async def _stored(self, statement: str, cloud: Cloud, fields: list[str]) -> Cloud:
        """Run an INSERT or UPDATE whose $1 is the cloud's id and $2... its `fields`."""
        values = [list(v) if isinstance(v, tuple) else v for v in (getattr(cloud, f) for f in fields)]
        try:
            row = await self._conn.fetchrow(f"{statement} RETURNING {COLUMNS}", cloud.id, *values)
        except asyncpg.UniqueViolationError as exc:
            raise _taken(exc, cloud) from None
        return cloud_of(row)

    async def add(self, cloud: Cloud) -> Cloud:
        fields = [*_CHANGING, *_SET_ONCE]
        params = ", ".join(f"${i}" for i in range(2, len(fields) + 2))
        into = ", ".join(fields)
        return await self._stored(
            f"INSERT INTO clouds (id, {into}, updated_at) VALUES ($1, {params}, ${len(fields) + 1})", cloud, fields
        )

    async def update(self, cloud: Cloud) -> Cloud:
        assignments = ", ".join(f"{f} = ${i}" for i, f in enumerate(_CHANGING, start=2))
        statement = f"UPDATE clouds SET {assignments}, updated_at = now() WHERE id = $1"
        return await self._stored(statement, cloud, _CHANGING)

    async def delete(self, cloud_id: str) -> None:
        try:
            await self._conn.execute("DELETE FROM clouds WHERE id = $1", cloud_id)
        except asyncpg.ForeignKeyViolationError:
            raise StillReferenced(cloud_id) from None

    async def sealed_with_other_keys(self, key_id: str) -> list[Cloud]:
        return await self._many("credentials IS NOT NULL AND credentials_key_id <> $1 ORDER BY id", key_id)

    async def rewrap(self, cloud_id: str, *, before: bytes, after: bytes, key_id: str) -> bool:
        done = await self._conn.fetchval(
            """UPDATE clouds SET credentials = $3, credentials_key_id = $4 WHERE id = $1 AND credentials = $2
               RETURNING true""",
            cloud_id,
            before,
            after,
            key_id,
        )
        return bool(done)

    async def usage(self, cloud_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        rows = await self._conn.fetch(
            """SELECT id FROM instances WHERE cloud_id = $1 AND state NOT IN ('terminated', 'gone')
                   AND (provider_id IS NOT NULL OR pending_action IS NOT NULL)
               ORDER BY created_at""",
            cloud_id,
        )
        if rows:
            found["instances"] = [str(r["id"]) for r in rows]
        rows = await self._conn.fetch(
            """SELECT kind, id FROM resources
               WHERE cloud_id = $1 AND NOT state = ANY($2::text[])
                 AND (provider_id IS NOT NULL OR pending_action IS NOT NULL)
               ORDER BY created_at""",
            cloud_id,
            sorted(ENDED),
        )
        for row in rows:
            found.setdefault(row["kind"], []).append(str(row["id"]))
        return found

    async def forget_records(self, cloud_id: str) -> dict[str, list[str]]:
        forgotten: dict[str, list[str]] = {}
        rows = await self._conn.fetch("DELETE FROM resources WHERE cloud_id = $1 RETURNING kind, id", cloud_id)
        for row in rows:
            forgotten.setdefault(row["kind"], []).append(str(row["id"]))
        rows = await self._conn.fetch("DELETE FROM instances WHERE cloud_id = $1 RETURNING id", cloud_id)
        if rows:
            forgotten["instances"] = [str(r["id"]) for r in rows]
        return forgotten

    async def using_driver(self, driver: str) -> list[str]:
        return [r["id"] for r in await self._conn.fetch("SELECT id FROM clouds WHERE driver = $1 ORDER BY id", driver)]


__all__ = [
    "CLOUD_LISTING",
    "COLUMNS",
    "CloudRepository",
    "NameTaken",
    "PostgresCloudRepository",
    "StillReferenced",
    "cloud_of",
]
