"""The `refreshes` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kernel.db import Connection, from_row
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.failover.policies.repository import key_of
from services.failover.refreshes.domain import Refresh

_COLUMNS = (
    "id, project_id, policy_id, template_id, template_version, min_healthy_percent, checkpoint_percent, state, "
    "correlation_id, created_at, updated_at, reason, old_versions, pending, replaced, last_event_id"
)
REFRESH_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM refreshes", {"created_at": Column("created_at", "timestamptz")}, Column("id", "uuid")
)


@dataclass(frozen=True)
class RefreshFilter:
    project_id: str
    policy_id: str | None = None
    state: str | None = None


def _refresh(row: Any) -> Refresh:
    return from_row(
        Refresh,
        row,
        old_versions={k: int(v) for k, v in row["old_versions"].items()},
        pending=dict(row["pending"]),
        replaced=dict(row["replaced"]),
    )


class RefreshRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, r: Refresh) -> bool:
        """False when the policy already has a refresh running or paused."""
        row = await self._conn.fetchrow(
            f"INSERT INTO refreshes ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
            " ON CONFLICT DO NOTHING RETURNING id",
            *self._values(r),
        )
        return row is not None

    async def save(self, r: Refresh) -> None:
        await self._conn.execute(
            """UPDATE refreshes SET policy_id = $3, template_id = $4, template_version = $5, min_healthy_percent = $6,
                   checkpoint_percent = $7, state = $8, correlation_id = $9, created_at = $10, updated_at = $11,
                   reason = $12, old_versions = $13, pending = $14, replaced = $15, last_event_id = $16
               WHERE id = $1 AND project_id = $2""",
            *self._values(r),
        )

    @staticmethod
    def _values(r: Refresh) -> tuple[Any, ...]:
        return (
            uuid.UUID(r.id),
            r.project_id,
            uuid.UUID(r.policy_id),
            r.template_id,
            r.template_version,
            r.min_healthy_percent,
            r.checkpoint_percent,
            r.state,
            r.correlation_id,
            r.created_at,
            r.updated_at,
            r.reason,
            r.old_versions,
            r.pending,
            r.replaced,
            None if r.last_event_id is None else uuid.UUID(r.last_event_id),
        )

    async def get(self, project_id: str, refresh_id: str, *, lock: bool = False) -> Refresh | None:
        key = key_of(refresh_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM refreshes WHERE id = $1 AND project_id = $2" + (" FOR UPDATE" if lock else ""),
            key,
            project_id,
        )
        return None if row is None else _refresh(row)

    async def active_of(self, policy_id: str) -> Refresh | None:
        """The policy's refresh that is running or paused, locked."""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM refreshes WHERE policy_id = $1 AND state IN ('running', 'paused') FOR UPDATE",
            uuid.UUID(policy_id),
        )
        return None if row is None else _refresh(row)

    async def page(self, flt: RefreshFilter, request: PageRequest) -> tuple[list[Refresh], str | None]:
        policy_key = None if flt.policy_id is None else key_of(flt.policy_id)
        if flt.policy_id is not None and policy_key is None:
            return [], None
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("policy_id = {}", policy_key)
            .given("state = {}", flt.state)
        )
        return await fetch_page(self._conn, REFRESH_LISTING, where, request, _refresh)
