"""Use cases of invoices: a project's months, and one month's invoice (its lines per resource and component, its
totals per currency), as JSON, CSV or a PDF document."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kernel.errors import ValidationFailed
from kernel.pagination import decode_cursor, encode_cursor
from services.billing.budgets.domain import month_bounds, period_of
from services.billing.invoices import pdf
from services.billing.invoices.schemas import InvoiceLineOut, InvoiceOut, InvoiceSummaryOut, TotalOut
from services.billing.unit_of_work import BillingUnitOfWork

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed(f"month: {message}.", errors=[{"location": "path.month", "message": message}])


def checked_month(month: str, now: datetime) -> str:
    if not _MONTH.match(month):
        raise _refused("a month as YYYY-MM")
    if month > period_of(now):
        raise _refused("is in the future: a month is invoiced once it began")
    return month


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    (offset,) = decode_cursor(cursor, 1)
    if not isinstance(offset, int) or offset < 0:
        raise ValidationFailed("The cursor is not one this API issued.", errors=[{"location": "query.cursor"}])
    return offset


async def months(
    uow: BillingUnitOfWork, project_id: str, cursor: str | None, limit: int
) -> tuple[list[InvoiceSummaryOut], str | None]:
    offset = _offset(cursor)
    current = period_of(datetime.now(UTC))
    async with uow.reading() as repos:
        rows = await repos.invoices.months(project_id, offset, limit + 1)
    found = [
        InvoiceSummaryOut(
            month=r["month"],
            currency=r["currency"],
            total=r["total"],
            lines=r["lines"],
            corrections=r["corrections"],
            status="open" if r["month"] == current else "closed",
        )
        for r in rows[:limit]
    ]
    return found, encode_cursor(offset + limit) if len(rows) > limit else None


async def invoice(uow: BillingUnitOfWork, project_id: str, month: str) -> InvoiceOut:
    now = datetime.now(UTC)
    month = checked_month(month, now)
    start, end = month_bounds(month)
    async with uow.reading() as repos:
        rows = await repos.invoices.lines(project_id, start, end)
    lines = [
        InvoiceLineOut(
            service_name=r["service_name"],
            resource_type=r["resource_type"],
            resource_id=r["resource_id"],
            resource_name=r["resource_name"],
            component=r["component"],
            pricing_unit=r["pricing_unit"],
            quantity=r["quantity"],
            consumed_seconds=r["seconds"],
            currency=r["currency"],
            cost=r["cost"],
            corrections=r["corrections"] or Decimal(0),
        )
        for r in rows
    ]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[line.currency] += line.cost
    return InvoiceOut(
        project_id=project_id,
        month=month,
        status="open" if month == period_of(now) else "closed",
        totals=[TotalOut(currency=c, total=t) for c, t in sorted(totals.items())],
        lines=lines,
    )


CSV_COLUMNS = (
    "month",
    "service_name",
    "resource_type",
    "resource_id",
    "resource_name",
    "component",
    "pricing_unit",
    "quantity",
    "consumed_seconds",
    "currency",
    "cost",
    "corrections",
)


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def as_csv(found: InvoiceOut) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in found.lines:
        row: dict[str, Any] = {"month": found.month, **line.model_dump()}
        writer.writerow([_amount(v) if isinstance(v, Decimal) else v for v in (row[c] for c in CSV_COLUMNS)])
    return out.getvalue()


def as_pdf(found: InvoiceOut) -> bytes:
    title = f"Clanavi invoice {found.project_id} {found.month}"
    text = [title, f"Status: {found.status}", ""]
    for total in found.totals:
        text.append(f"Total {total.currency}: {_amount(total.total.quantize(Decimal('0.01')))}")
    text.append("")
    for line in found.lines:
        cost = _amount(line.cost.quantize(Decimal("0.000001")))
        text.append(
            f"{line.service_name} {line.resource_type} {line.resource_id} {line.component}: "
            f"{_amount(line.quantity)} {line.pricing_unit} = {cost} {line.currency}"
        )
    return pdf.document(text, title=title)


__all__ = ["as_csv", "as_pdf", "checked_month", "invoice", "months"]
