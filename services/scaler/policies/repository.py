"""The `policies` table: each policy's kind-specific settings kept in one JSON column."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from kernel.db import Connection
from services.scaler.policies.domain import Policy, Step

__all__ = ["PolicyRepository"]

_COLUMNS = "id, group_id, project_id, name, kind, metric, spec, next_run_at, created_at"
_SPEC_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(Policy)
    if f.name not in {"id", "group_id", "project_id", "name", "kind", "metric", "next_run_at", "created_at"}
)


def policy_of(row: asyncpg.Record) -> Policy:
    spec = dict(row["spec"])
    spec["steps"] = tuple(Step(**s) for s in spec.get("steps", ()))
    return Policy(
        id=row["id"],
        group_id=row["group_id"],
        project_id=row["project_id"],
        name=row["name"],
        kind=row["kind"],
        metric=row["metric"],
        next_run_at=row["next_run_at"],
        created_at=row["created_at"],
        **spec,
    )


def _spec(policy: Policy) -> dict[str, object]:
    spec = {name: getattr(policy, name) for name in _SPEC_FIELDS}
    spec["steps"] = [dataclasses.asdict(s) for s in policy.steps]
    return spec


class PolicyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, policy: Policy) -> None:
        await self._conn.execute(
            "INSERT INTO policies (id, group_id, project_id, name, kind, metric, spec, next_run_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            policy.id,
            policy.group_id,
            policy.project_id,
            policy.name,
            policy.kind,
            policy.metric,
            _spec(policy),
            policy.next_run_at,
        )

    async def name_taken(self, group_id: str, name: str) -> bool:
        found = await self._conn.fetchval("SELECT 1 FROM policies WHERE group_id = $1 AND name = $2", group_id, name)
        return found is not None

    async def of_groups(self, group_ids: Sequence[str]) -> list[Policy]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM policies WHERE group_id = ANY($1::text[]) ORDER BY created_at, id",
            list(group_ids),
        )
        return [policy_of(row) for row in rows]

    async def get(self, group_id: str, policy_id: str) -> Policy | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM policies WHERE group_id = $1 AND id = $2", group_id, policy_id
        )
        return None if row is None else policy_of(row)

    async def delete(self, policy: Policy) -> None:
        await self._conn.execute("DELETE FROM policies WHERE id = $1", policy.id)

    async def due(self, now: datetime) -> list[str]:
        """The groups with a scheduled action due."""
        rows = await self._conn.fetch("SELECT DISTINCT group_id FROM policies WHERE next_run_at <= $1", now)
        return [r["group_id"] for r in rows]

    async def set_next_run(self, policy_id: str, at: datetime | None) -> None:
        await self._conn.execute("UPDATE policies SET next_run_at = $2 WHERE id = $1", policy_id, at)
