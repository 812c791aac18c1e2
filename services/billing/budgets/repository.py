"""The `budgets` table, and what a budget's scope spent in a month (from `costs`) and runs now (from `resources`).
Every lookup a request makes carries the project."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kernel.db import Connection
from kernel.events import BudgetScope
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.billing.budgets.domain import PROTECTED_TAG, Budget, Threshold

_COLUMNS = (
    "id, project_id, name, scope, amount, currency, thresholds, period, crossed, launches_blocked, correlation_id,"
    " last_event_id, created_at, updated_at"
)
BUDGET_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM budgets",
    {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")},
    Column("id", "uuid"),
)


@dataclass(frozen=True)
class BudgetFilter:
    project_id: str
    name: str | None = None
    scope: str | None = None


def key_of(record_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(record_id)
    except ValueError:
        return None


def _budget(row: Any) -> Budget:
    return Budget(
        id=str(row["id"]),
        project_id=row["project_id"],
        name=row["name"],
        scope=BudgetScope.model_validate(row["scope"]),
        amount=row["amount"],
        currency=row["currency"],
        thresholds=tuple(Threshold.from_json(t) for t in row["thresholds"]),
        period=row["period"],
        crossed=tuple(row["crossed"]),
        launches_blocked=row["launches_blocked"],
        correlation_id=row["correlation_id"],
        last_event_id=None if row["last_event_id"] is None else str(row["last_event_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _scope_sql(scope: BudgetScope, where: Where, tags: str = "tags", cluster: str = "cluster_id") -> None:
    if scope.kind == "tag" and scope.tag_value is not None:
        where.add(f"{tags}->>{{}} = {{}}", scope.tag_key, scope.tag_value)
    elif scope.kind == "tag":
        where.add(f"{tags} ? {{}}", scope.tag_key)
    elif scope.kind == "cluster":
        where.add(f"{cluster} = {{}}", scope.cluster_id)


class BudgetRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _values(b: Budget) -> tuple[Any, ...]:
        return (
            uuid.UUID(b.id),
            b.project_id,
            b.name,
            b.scope.model_dump(mode="json"),
            b.amount,
            b.currency,
            [t.as_json() for t in b.thresholds],
            b.period,
            list(b.crossed),
            b.launches_blocked,
            b.correlation_id,
            None if b.last_event_id is None else uuid.UUID(b.last_event_id),
            b.created_at,
            b.updated_at,
        )

    async def add(self, b: Budget) -> bool:
        """False when the project has a budget of that name."""
        row = await self._conn.fetchrow(
            f"INSERT INTO budgets ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            *self._values(b),
        )
        return row is not None

    async def save(self, b: Budget) -> None:
        await self._conn.execute(
            """UPDATE budgets SET name = $3, scope = $4, amount = $5, currency = $6, thresholds = $7, period = $8,
                   crossed = $9, launches_blocked = $10, correlation_id = $11, last_event_id = $12, created_at = $13,
                   updated_at = $14
               WHERE id = $1 AND project_id = $2""",
            *self._values(b),
        )

    async def name_taken(self, project_id: str, name: str, other_than: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM budgets WHERE project_id = $1 AND name = $2 AND id <> $3)",
            project_id,
            name,
            uuid.UUID(other_than),
        )
        return bool(found)

    async def get(self, project_id: str, budget_id: str, *, lock: bool = False) -> Budget | None:
        key = key_of(budget_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM budgets WHERE id = $1 AND project_id = $2" + (" FOR UPDATE" if lock else ""),
            key,
            project_id,
        )
        return None if row is None else _budget(row)

    async def delete(self, project_id: str, budget_id: str) -> None:
        await self._conn.execute(
            "DELETE FROM budgets WHERE id = $1 AND project_id = $2", uuid.UUID(budget_id), project_id
        )

    async def of_project(self, project_id: str, *, lock: bool = False) -> list[Budget]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM budgets WHERE project_id = $1 ORDER BY id" + (" FOR UPDATE" if lock else ""),
            project_id,
        )
        return [_budget(r) for r in rows]

    async def projects(self) -> list[str]:
        rows = await self._conn.fetch("SELECT DISTINCT project_id FROM budgets ORDER BY project_id")
        return [r["project_id"] for r in rows]

    async def page(self, flt: BudgetFilter, request: PageRequest) -> tuple[list[Budget], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("name = {}", flt.name)
            .given("scope->>'kind' = {}", flt.scope)
        )
        return await fetch_page(self._conn, BUDGET_LISTING, where, request, _budget)

    async def spent(self, b: Budget, start: datetime, end: datetime) -> Decimal:
        """What the budget's scope cost in [start, end), in its currency (Correction lines included)."""
        where = Where().add("project_id = {}", b.project_id).add("currency = {}", b.currency)
        where.add("charge_period_start >= {}", start).add("charge_period_start < {}", end)
        _scope_sql(b.scope, where)
        found = await self._conn.fetchval(f"SELECT coalesce(sum(cost), 0) FROM costs{where.sql()}", *where.args)
        return Decimal(found)

    async def running(self, b: Budget) -> list[str]:
        """The instances of the budget's scope running now, but those tagged as protected."""
        where = Where().add("project_id = {}", b.project_id).add("kind = 'instance'").add("open")
        where.add("coalesce(attributes->'tags'->>{}, '') <> 'true'", PROTECTED_TAG)
        _scope_sql(b.scope, where, tags="(attributes->'tags')", cluster="(attributes->>'cluster_id')")
        rows = await self._conn.fetch(f"SELECT id FROM resources{where.sql()} ORDER BY id", *where.args)
        return [r["id"] for r in rows]


__all__ = ["BudgetFilter", "BudgetRepository"]
