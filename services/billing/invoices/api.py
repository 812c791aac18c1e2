"""The invoice routes: a project's months and one month's invoice as JSON, CSV or PDF. Reached only through the
gateway, which serves them from these declarations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel.authz import Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.listing_query import DEFAULT_LIMIT, MAX_LIMIT
from kernel.pagination import MAX_CURSOR_LENGTH, Page
from services.billing.invoices import handlers
from services.billing.invoices.schemas import InvoiceOut, InvoiceSummaryOut
from services.billing.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "invoices")


@routes.get("/invoices", Page[InvoiceSummaryOut], "Invoices by month", description="Newest first, per currency.")
async def list_invoices(
    request: Request,
    caller: Reader,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    found, next_cursor = await handlers.months(uow_of(request), caller.project_id, cursor, limit)
    return page_answer(InvoiceSummaryOut, found, next_cursor)


@routes.get(
    "/invoices/{month}",
    InvoiceOut,
    "A month's invoice",
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}},
    description="The month's cost lines (Correction lines included) per resource and component, with its totals "
    "per currency, as JSON, CSV or a PDF document (`format`). A month still under way is `open`; a month in the "
    "future is 422.",
)
async def get_invoice(
    request: Request,
    month: str,
    caller: Reader,
    format: Literal["json", "csv", "pdf"] = "json",  # noqa: A002 - the query parameter's name
) -> Response:
    found = await handlers.invoice(uow_of(request), caller.project_id, month)
    name = f"invoice-{found.project_id}-{found.month}"
    if format == "csv":
        return Response(
            handlers.as_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "pdf":
        return Response(
            handlers.as_pdf(found),
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{name}.pdf"'},
        )
    return answer(found)
