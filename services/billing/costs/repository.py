"""The `costs` table: cost lines as rated, never changed; what a resource was rated so far, and the project's lines
summed by what a caller groups them by, or streamed as they are."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Connection
from kernel.keyset import Where
from services.billing.usage.domain import SERVICE_NAMES, Correction, Line, Rated, Resource

# What a caller may group by, as SQL over `costs` (a tag key is grouped by `tags->>key`).
GROUPS = {
    "day": "to_char(date_trunc('day', charge_period_start AT TIME ZONE 'UTC'), 'YYYY-MM-DD')",
    "month": "to_char(date_trunc('month', charge_period_start AT TIME ZONE 'UTC'), 'YYYY-MM')",
    "cloud": "cloud_id",
    "resource": "resource_id",
    "resource_type": "resource_type",
    "cluster": "cluster_id",
    "template": "template_id",
    "scaling_group": "scaling_group_id",
    "service": "service_name",
    "region": "region_id",
}

# The columns of a rated line, with the type of each as an array of a multi-row INSERT (`row_of` gives them in this
# order). Tags travel as JSON text: asyncpg's COPY wants a binary encoder for jsonb, which the pool does not have.
_LINE_COLUMNS = (
    ("project_id", "text"),
    ("resource_id", "text"),
    ("resource_type", "text"),
    ("resource_name", "text"),
    ("component", "text"),
    ("key_start", "timestamptz"),
    ("charge_period_start", "timestamptz"),
    ("charge_period_end", "timestamptz"),
    ("charge_class", "text"),
    ("service_name", "text"),
    ("region_id", "text"),
    ("cloud_id", "text"),
    ("pricing_unit", "text"),
    ("pricing_quantity", "numeric"),
    ("consumed_quantity", "numeric"),
    ("list_unit_price", "numeric"),
    ("cost", "numeric"),
    ("currency", "text"),
    ("price_version", "integer"),
    ("tags", "text"),
    ("cluster_id", "text"),
    ("template_id", "text"),
    ("scaling_group_id", "text"),
    ("rated_at", "timestamptz"),
    ("event_id", "uuid"),
)
# One statement for a batch's lines, each column given as one array.
_INSERT = (
    f"INSERT INTO costs ({', '.join(name for name, _ in _LINE_COLUMNS)})"
    f" SELECT {', '.join('tags::jsonb' if name == 'tags' else name for name, _ in _LINE_COLUMNS)}"
    f" FROM unnest({', '.join(f'${n}::{kind}[]' for n, (_, kind) in enumerate(_LINE_COLUMNS, start=1))})"
    f" AS t({', '.join(name for name, _ in _LINE_COLUMNS)})"
)

EXPORT_COLUMNS = (
    "id, project_id, resource_id, resource_type, resource_name, component, charge_period_start, charge_period_end,"
    " charge_class, service_name, region_id, cloud_id, pricing_unit, pricing_quantity, consumed_quantity,"
    " list_unit_price, cost, currency, price_version, tags, cluster_id, template_id, scaling_group_id, rated_at"
)


@dataclass(frozen=True)
class CostFilter:
    project_id: str
    start: datetime | None = None
    end: datetime | None = None
    cloud_id: str | None = None
    resource_id: str | None = None
    tag_key: str | None = None
    tag_value: str | None = None
    cluster_id: str | None = None

    def where(self) -> Where:
        where = (
            Where()
            .add("project_id = {}", self.project_id)
            .given("charge_period_start >= {}", self.start)
            .given("charge_period_start < {}", self.end)
            .given("cloud_id = {}", self.cloud_id)
            .given("resource_id = {}", self.resource_id)
            .given("cluster_id = {}", self.cluster_id)
        )
        if self.tag_key is not None and self.tag_value is not None:
            where.add("tags->>{} = {}", self.tag_key, self.tag_value)
        elif self.tag_key is not None:
            where.add("tags ? {}", self.tag_key)
        return where


def row_of(
    resource: Resource, line: Line | Correction, rated_at: datetime, event_id: uuid.UUID | None
) -> tuple[Any, ...]:
    return (
        resource.project_id,
        resource.id,
        resource.kind.value,
        resource.name,
        line.component,
        line.key_start,
        line.start,
        line.end,
        "Correction" if line.correction else None,
        SERVICE_NAMES[resource.kind],
        resource.region,
        resource.cloud_id,
        line.pricing_unit,
        line.pricing_quantity,
        line.seconds,
        line.unit_price,
        line.cost,
        line.currency,
        line.price_version,
        json.dumps(resource.tags),
        resource.cluster_id,
        resource.template_id,
        resource.scaling_group_id,
        rated_at,
        event_id,
    )


class CostRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def rated(self, resource_ids: Sequence[str]) -> dict[str, dict[tuple[str, datetime], Rated]]:
        """What each resource of `resource_ids` was rated so far, by resource id, then by (component, start)."""
        found: dict[str, dict[tuple[str, datetime], Rated]] = defaultdict(dict)
        rows = await self._conn.fetch(
            """SELECT resource_id, component, key_start, sum(consumed_quantity) AS seconds,
                      sum(pricing_quantity) AS quantity, sum(cost) AS cost, max(charge_period_end) AS end_,
                      min(currency) AS currency
               FROM costs WHERE resource_id = ANY($1::text[]) GROUP BY resource_id, component, key_start""",
            resource_ids,
        )
        for r in rows:
            found[r["resource_id"]][(r["component"], r["key_start"])] = Rated(
                r["seconds"], r["quantity"], r["cost"], r["end_"], r["currency"]
            )
        return found

    async def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Write lines (`row_of`'s rows) with one statement, however many a batch rated."""
        if rows:
            await self._conn.execute(_INSERT, *(list(column) for column in zip(*rows, strict=True)))

    async def grouped(
        self, flt: CostFilter, groups: Sequence[str], tag_keys: Sequence[str], offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """Sums of the lines under `flt`, by `groups` (names of GROUPS) and `tag_keys`, and by currency; ordered by
        the groups, `limit` from `offset`."""
        where = flt.where()
        exprs = [f"{GROUPS[g]} AS g{n}" for n, g in enumerate(groups)]
        exprs += [f"tags->>{where.param(k)} AS t{n}" for n, k in enumerate(tag_keys)]
        names = [f"g{n}" for n in range(len(groups))] + [f"t{n}" for n in range(len(tag_keys))] + ["currency"]
        listed = ", ".join([*exprs, "currency"])
        order = ", ".join(f"{n} NULLS FIRST" for n in names)
        text = (
            f"SELECT {listed}, sum(cost) AS cost, sum(consumed_quantity) AS seconds, count(*) AS lines,"
            f" min(charge_period_start) AS first_start, max(charge_period_end) AS last_end"
            f" FROM costs{where.sql()} GROUP BY {', '.join(str(i + 1) for i in range(len(names)))}"
            f" ORDER BY {order} LIMIT {where.param(limit)} OFFSET {where.param(offset)}"
        )
        rows = await self._conn.fetch(text, *where.args)
        out = []
        for r in rows:
            by = {g: r[f"g{n}"] for n, g in enumerate(groups)}
            by.update({f"tag:{k}": r[f"t{n}"] for n, k in enumerate(tag_keys)})
            out.append(
                {
                    "group": by,
                    "currency": r["currency"],
                    "cost": r["cost"],
                    "seconds": r["seconds"],
                    "lines": r["lines"],
                    "start": r["first_start"],
                    "end": r["last_end"],
                }
            )
        return out

    async def batch(self, flt: CostFilter, after: int, size: int = 1000) -> list[Any]:
        """Up to `size` lines under `flt` rated after line `after`, in the order they were rated."""
        where = flt.where()
        where.add("id > {}", after)
        return list(
            await self._conn.fetch(
                f"SELECT {EXPORT_COLUMNS} FROM costs{where.sql()} ORDER BY id LIMIT {where.param(size)}", *where.args
            )
        )


__all__ = ["EXPORT_COLUMNS", "GROUPS", "CostFilter", "CostRepository", "row_of"]
