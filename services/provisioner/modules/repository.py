"""The `modules` table: the state of each adapter module an admin enabled or disabled (a module without a row is
enabled)."""

from __future__ import annotations

from typing import Protocol

from kernel.db import Connection
from services.provisioner.clouds.repository import CloudRepository


class ModuleRepository(Protocol):
    async def disabled(self) -> set[str]: ...
    async def recorded(self) -> dict[str, bool]:
        """Every module with a recorded state, and whether it is enabled."""
        ...

    async def set(self, name: str, *, enabled: bool) -> bool:
        """Record the module's state; True when it changed."""
        ...


class ModuleStore(Protocol):
    """The repositories the module use cases use."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def modules(self) -> ModuleRepository: ...


class PostgresModuleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def disabled(self) -> set[str]:
        return {r["name"] for r in await self._conn.fetch("SELECT name FROM modules WHERE NOT enabled")}

    async def recorded(self) -> dict[str, bool]:
        return {r["name"]: bool(r["enabled"]) for r in await self._conn.fetch("SELECT name, enabled FROM modules")}

    async def set(self, name: str, *, enabled: bool) -> bool:
        row = await self._conn.fetchrow("SELECT enabled FROM modules WHERE name = $1 FOR UPDATE", name)
        before = True if row is None else bool(row["enabled"])
        await self._conn.execute(
            """INSERT INTO modules (name, enabled) VALUES ($1, $2)
               ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = now()""",
            name,
            enabled,
        )
        return before != enabled


__all__ = ["ModuleRepository", "ModuleStore", "PostgresModuleRepository"]
