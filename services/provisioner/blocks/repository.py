"""The `launch_blocks` table: per project and budget, the newest budget event applied and whether it blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner.blocks.domain import LaunchBlock, ScopeKind

_COLUMNS = (
    "project_id, budget_id, budget_name, scope_kind, tag_key, tag_value, cluster_id, period, reason, blocked, "
    "changed_at, event_id"
)
BLOCK_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM launch_blocks",
    {"blocked_at": Column("changed_at", "timestamptz"), "budget_name": Column("budget_name", "text")},
    Column("budget_id", "text"),
    default_order="desc",
)


@dataclass(frozen=True)
class BlockFilter:
    project_id: str
    scope_kind: ScopeKind | None = None
    budget_id: str | None = None


def _block(row: Any) -> LaunchBlock:
    return LaunchBlock(
        project_id=row["project_id"],
        budget_id=row["budget_id"],
        budget_name=row["budget_name"],
        scope_kind=row["scope_kind"],
        tag_key=row["tag_key"],
        tag_value=row["tag_value"],
        cluster_id=row["cluster_id"],
        period=row["period"],
        reason=row["reason"],
        blocked=row["blocked"],
        changed_at=row["changed_at"],
        event_id=row["event_id"],
    )


class BlockRepository(Protocol):
    async def apply(self, block: LaunchBlock) -> bool:
        """Record a budget's newest word on launches; False (nothing written) when the row holds a newer one (a
        later period, or a later event of the same period) or this same event."""
        ...

    async def active(self, project_id: str) -> list[LaunchBlock]:
        """The project's blocks in force (few: one per budget that blocks)."""
        ...

    async def page(self, flt: BlockFilter, request: PageRequest) -> tuple[list[LaunchBlock], str | None]: ...


class PostgresBlockRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def apply(self, block: LaunchBlock) -> bool:
        row = await self._conn.fetchrow(
            f"""INSERT INTO launch_blocks ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (project_id, budget_id) DO UPDATE SET
                    budget_name = EXCLUDED.budget_name, scope_kind = EXCLUDED.scope_kind,
                    tag_key = EXCLUDED.tag_key, tag_value = EXCLUDED.tag_value, cluster_id = EXCLUDED.cluster_id,
                    period = EXCLUDED.period, reason = EXCLUDED.reason, blocked = EXCLUDED.blocked,
                    changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
                WHERE (EXCLUDED.period, EXCLUDED.changed_at, EXCLUDED.event_id)
                    > (launch_blocks.period, launch_blocks.changed_at, launch_blocks.event_id)
                RETURNING budget_id""",  # noqa: S608 - constant columns
            block.project_id,
            block.budget_id,
            block.budget_name,
            block.scope_kind,
            block.tag_key,
            block.tag_value,
            block.cluster_id,
            block.period,
            block.reason,
            block.blocked,
            block.changed_at,
            block.event_id,
        )
        return row is not None

    async def active(self, project_id: str) -> list[LaunchBlock]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM launch_blocks WHERE project_id = $1 AND blocked",  # noqa: S608 - constant columns
            project_id,
        )
        return [_block(r) for r in rows]

    async def page(self, flt: BlockFilter, request: PageRequest) -> tuple[list[LaunchBlock], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .add("blocked = {}", True)
            .given("scope_kind = {}", flt.scope_kind)
            .given("budget_id = {}", flt.budget_id)
        )
        return await fetch_page(self._conn, BLOCK_LISTING, where, request, _block)


__all__ = ["BLOCK_LISTING", "BlockFilter", "BlockRepository", "PostgresBlockRepository"]
