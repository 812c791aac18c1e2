"""The `clouds`, `catalogs` and `prices` tables: the billing service's own copy of what the provisioner published."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from kernel.db import Connection
from kernel.events import PriceCatalogPublished
from services.billing.catalogs.domain import EMPTY, Price, PriceBook, Version


class CatalogRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def cloud_added(self, cloud_id: str, project_id: str, driver: str) -> None:
        await self._conn.execute(
            "INSERT INTO clouds (cloud_id, project_id, driver) VALUES ($1, $2, $3)"
            " ON CONFLICT (cloud_id) DO UPDATE SET driver = EXCLUDED.driver",
            cloud_id,
            project_id,
            driver,
        )

    async def hold(self, cloud_ids: Mapping[str, bool]) -> None:
        """Hold each account's prices until the transaction ends: exclusively (True) to add a version and re-rate its
        usage, shared (False) to rate usage with them; in the order of the accounts' ids, so that two transactions
        never wait on each other in turn. Without it a version and a new resource's first usage handled at once
        would each miss the other: the usage rated with the prices before, and the re-rating not seeing it."""
        for cloud_id in sorted(cloud_ids, key=str.encode):
            lock = "pg_advisory_xact_lock" if cloud_ids[cloud_id] else "pg_advisory_xact_lock_shared"
            await self._conn.execute(
                f"SELECT {lock}(hashtextextended('billing-prices:' || current_schema() || ':' || $1, 0))", cloud_id
            )

    async def driver(self, cloud_id: str) -> str | None:
        found: str | None = await self._conn.fetchval("SELECT driver FROM clouds WHERE cloud_id = $1", cloud_id)
        return found

    async def add_page(self, page: PriceCatalogPublished) -> bool:
        """Keep one page of a version's prices; True when it completed the version (a page seen before: False)."""
        await self._conn.execute(
            """INSERT INTO catalogs (catalog_id, cloud_id, version, effective_from, currency, source, pages)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (catalog_id) DO NOTHING""",
            page.catalog_id,
            page.cloud_id,
            page.version,
            page.effective_from,
            page.currency,
            page.source,
            page.pages,
        )
        seen = await self._conn.fetchrow(
            """UPDATE catalogs SET pages_seen = pages_seen || $2::integer
               WHERE catalog_id = $1 AND NOT ($2 = ANY (pages_seen)) RETURNING cardinality(pages_seen) AS n, pages""",
            page.catalog_id,
            page.page,
        )
        if seen is None:
            return False
        await self._conn.executemany(
            "INSERT INTO prices (catalog_id, page, kind, region, item, amount) VALUES ($1, $2, $3, $4, $5, $6)",
            [(page.catalog_id, page.page, p.kind, p.region, p.item, Decimal(p.amount)) for p in page.prices],
        )
        if seen["n"] < seen["pages"]:
            return False
        await self._conn.execute("UPDATE catalogs SET complete = true WHERE catalog_id = $1", page.catalog_id)
        return True

    async def book(self, cloud_id: str) -> PriceBook:
        """The account's complete versions."""
        rows = await self._conn.fetch(
            """SELECT c.catalog_id, c.version, c.effective_from, c.currency, p.kind, p.region, p.item, p.amount
               FROM catalogs c LEFT JOIN prices p USING (catalog_id)
               WHERE c.cloud_id = $1 AND c.complete""",
            cloud_id,
        )
        if not rows:
            return EMPTY
        heads: dict[str, tuple[int, datetime, str]] = {}
        prices: dict[str, list[Price]] = defaultdict(list)
        for r in rows:
            heads[r["catalog_id"]] = (r["version"], r["effective_from"], r["currency"])
            if r["kind"] is not None:
                prices[r["catalog_id"]].append(Price(r["kind"], r["region"], r["item"], r["amount"]))
        return PriceBook.of(
            Version(cloud_id, version, effective_from, currency, tuple(prices[cid]))
            for cid, (version, effective_from, currency) in heads.items()
        )


__all__ = ["CatalogRepository"]
