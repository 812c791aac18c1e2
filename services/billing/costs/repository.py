"""The `costs` table: cost lines as rated, what they cost never changed (what one is shown under is completed once its
resource is described); what a resource was rated so far, and the project's lines summed by what a caller groups
them by, or streamed as they are."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Connection, Encoded
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

# A batch's lines are written with COPY (binary): a re-rating's 50,000 took about 40 % less time so than as the
# columns of an INSERT ... unnest, whose arrays asyncpg checks element by element for nested ones. What a line is
# shown under is its resource's: the same objects on each of its lines, its tags encoded once.
_COLUMNS = (
    "project_id", "resource_id", "resource_type", "resource_name", "component", "key_start", "charge_period_start",
    "charge_period_end", "charge_class", "service_name", "region_id", "cloud_id", "pricing_unit", "pricing_quantity",
    "consumed_quantity", "list_unit_price", "cost", "currency", "price_version", "tags", "cluster_id", "template_id",
    "scaling_group_id", "rated_at", "event_id",
)  # fmt: skip

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

    async def add(
        self, rated: Sequence[tuple[Resource, uuid.UUID | None, Sequence[Line | Correction]]], rated_at: datetime
    ) -> int:
        """Write the lines of each (resource, the event they were rated for, its lines) with one COPY, however many a
        batch rated; how many were written."""
        lines: list[tuple[Any, ...]] = []
        for resource, event_id, of_resource in rated:
            if not of_resource:
                continue
            project_id, rid, kind, name = resource.project_id, resource.id, resource.kind.value, resource.name
            service, region, cloud_id = SERVICE_NAMES[resource.kind], resource.region, resource.cloud_id
            tags = Encoded(json.dumps(resource.tags).encode())
            cluster_id, template_id, group_id = resource.cluster_id, resource.template_id, resource.scaling_group_id
            lines.extend(
                (
                    project_id,
                    rid,
                    kind,
                    name,
                    line.component,
                    line.key_start,
                    line.start,
                    line.end,
                    "Correction" if line.correction else None,
                    service,
                    region,
                    cloud_id,
                    line.pricing_unit,
                    line.pricing_quantity,
                    line.seconds,
                    line.unit_price,
                    line.cost,
                    line.currency,
                    line.price_version,
                    tags,
                    cluster_id,
                    template_id,
                    group_id,
                    rated_at,
                    event_id,
                )
                for line in of_resource
            )
        if lines:
            await self._conn.copy_records_to_table("costs", records=lines, columns=_COLUMNS)
        return len(lines)

    async def show_under(self, resources: Sequence[Resource]) -> None:
        """Show the lines written for each of `resources` under what is known of it now (its name, zone, tags,
        cluster, template and scaling group): what a line costs never changes, what it is shown under is completed
        when the event that tells it is handled after the line was written."""
        if not resources:
            return
        await self._conn.execute(
            """UPDATE costs c SET resource_name = t.name, region_id = t.region, tags = t.tags::jsonb,
                   cluster_id = t.cluster_id, template_id = t.template_id, scaling_group_id = t.group_id
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                    AS t(id, name, region, tags, cluster_id, template_id, group_id)
               WHERE c.resource_id = t.id""",
            [r.id for r in resources],
            [r.name for r in resources],
            [r.region for r in resources],
            [json.dumps(r.tags) for r in resources],
            [r.cluster_id for r in resources],
            [r.template_id for r in resources],
            [r.scaling_group_id for r in resources],
        )

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


__all__ = ["EXPORT_COLUMNS", "GROUPS", "CostFilter", "CostRepository"]
