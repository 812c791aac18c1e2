"""What a project's invoices are made of, read from the `costs` table: the months it has lines in, and a month's
lines summed per resource and component."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kernel.db import Connection


class InvoiceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def months(self, project_id: str, offset: int, limit: int) -> list[Any]:
        """Newest first: each month's total per currency, and how many lines (corrections among them)."""
        return list(
            await self._conn.fetch(
                """SELECT to_char(date_trunc('month', charge_period_start AT TIME ZONE 'UTC'), 'YYYY-MM') AS month,
                          currency, sum(cost) AS total, count(*) AS lines,
                          count(*) FILTER (WHERE charge_class = 'Correction') AS corrections
                   FROM costs WHERE project_id = $1 GROUP BY 1, 2 ORDER BY 1 DESC, 2 LIMIT $2 OFFSET $3""",
                project_id,
                limit,
                offset,
            )
        )

    async def lines(self, project_id: str, start: datetime, end: datetime) -> list[Any]:
        return list(
            await self._conn.fetch(
                """SELECT service_name, resource_type, resource_id, max(resource_name) AS resource_name, component,
                          pricing_unit, currency, sum(pricing_quantity) AS quantity, sum(consumed_quantity) AS seconds,
                          sum(cost) AS cost, sum(cost) FILTER (WHERE charge_class = 'Correction') AS corrections
                   FROM costs WHERE project_id = $1 AND charge_period_start >= $2 AND charge_period_start < $3
                   GROUP BY service_name, resource_type, resource_id, component, pricing_unit, currency
                   ORDER BY currency, service_name, resource_id, component""",
                project_id,
                start,
                end,
            )
        )


__all__ = ["InvoiceRepository"]
