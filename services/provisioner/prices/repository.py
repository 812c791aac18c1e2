"""The `price_catalogs` and `catalog_prices` tables: the port the use cases name, and its PostgreSQL implementation.
Rows are only added; every lookup carries the project."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from kernel.db import Connection, from_row
from services.provisioner.prices.domain import CatalogVersion, Price, PriceKind

_COLUMNS = (
    "id, project_id, cloud_id, version, effective_from, currency, source, source_updated_at, price_count, "
    "warnings, warning_count, created_at, correlation_id, last_event_id"
)


class PriceRepository(Protocol):
    async def add(self, catalog: CatalogVersion, prices: Sequence[Price]) -> None: ...
    async def versions(self, project_id: str, cloud_id: str) -> list[CatalogVersion]:
        """The account's versions, newest first."""
        ...

    async def in_force(self, project_id: str, cloud_id: str, at: datetime) -> CatalogVersion | None: ...
    async def latest_version(self, cloud_id: str) -> int:
        """The highest version number of the account's catalog (0: none), locking the account's catalog against a
        concurrent import until the transaction ends."""
        ...

    async def prices(
        self, catalog_id: str, *, kind: PriceKind | None = None, region: str | None = None
    ) -> list[Price]: ...


def _version(row: Any) -> CatalogVersion:
    return from_row(CatalogVersion, row, warnings=tuple(json.loads(row["warnings"])), currency=row["currency"].strip())


class PostgresPriceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, catalog: CatalogVersion, prices: Sequence[Price]) -> None:
        await self._conn.execute(
            f"INSERT INTO price_catalogs ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
            "$14)",
            catalog.id,
            catalog.project_id,
            catalog.cloud_id,
            catalog.version,
            catalog.effective_from,
            catalog.currency,
            catalog.source,
            catalog.source_updated_at,
            catalog.price_count,
            json.dumps(list(catalog.warnings)),
            catalog.warning_count,
            catalog.created_at,
            catalog.correlation_id,
            catalog.last_event_id,
        )
        await self._conn.copy_records_to_table(
            "catalog_prices",
            records=[(catalog.id, p.kind.value, p.region, p.item, p.amount) for p in prices],
            columns=["catalog_id", "kind", "region", "item", "amount"],
        )

    async def versions(self, project_id: str, cloud_id: str) -> list[CatalogVersion]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM price_catalogs WHERE project_id = $1 AND cloud_id = $2 ORDER BY version DESC",
            project_id,
            cloud_id,
        )
        return [_version(r) for r in rows]

    async def in_force(self, project_id: str, cloud_id: str, at: datetime) -> CatalogVersion | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM price_catalogs WHERE project_id = $1 AND cloud_id = $2 AND effective_from <= $3 "
            "ORDER BY effective_from DESC, version DESC LIMIT 1",
            project_id,
            cloud_id,
            at,
        )
        return _version(row) if row else None

    async def latest_version(self, cloud_id: str) -> int:
        # The account's row serialises imports: two at once would both take the same next number.
        await self._conn.execute("SELECT 1 FROM clouds WHERE id = $1 FOR UPDATE", cloud_id)
        found: int | None = await self._conn.fetchval(
            "SELECT max(version) FROM price_catalogs WHERE cloud_id = $1", cloud_id
        )
        return found or 0

    async def prices(self, catalog_id: str, *, kind: PriceKind | None = None, region: str | None = None) -> list[Price]:
        rows = await self._conn.fetch(
            "SELECT kind, region, item, amount FROM catalog_prices WHERE catalog_id = $1 "
            "AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR region IN ($3, '')) "
            "ORDER BY kind, region, item",
            catalog_id,
            kind.value if kind else None,
            region,
        )
        return [Price(PriceKind(r["kind"]), r["region"], r["item"], r["amount"]) for r in rows]
