"""Costs: the project's cost per day over the last month as a bar chart (inline SVG drawn here, so it needs no script
and passes the console's content security policy), the month's cost per cloud and kind of resource, the budgets
with this month's spend, and the invoices by month."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import CostGroupOut
from clanavi.console.problems import Problem
from clanavi.console.visits import Visit, visit

__all__ = ["Bars", "bars", "router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
# The chart's drawing area, in SVG user units, and how many days it shows.
WIDTH, HEIGHT = 600.0, 160.0
DAYS = 31
SHOWN = 500


@dataclass(frozen=True)
class Bar:
    day: str
    cost: Decimal
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Bars:
    """One bar a day (of one currency: the one that cost most), and the top of its axis."""

    currency: str
    top: Decimal
    bars: tuple[Bar, ...]
    # Other currencies spent in the period, left out of the chart.
    others: tuple[str, ...]


def bars(per_day: Sequence[CostGroupOut], today: datetime, days: int = DAYS) -> Bars | None:
    """The chart of the sums per day (`group_by=day`) over the `days` days up to `today`; None when nothing cost."""
    by_currency: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for group in per_day:
        day = group.group.get("day")
        if day is not None:
            by_currency[group.currency][day] = group.cost
    if not by_currency:
        return None
    currency = max(by_currency, key=lambda c: sum(by_currency[c].values()))
    costs = by_currency[currency]
    top = max([*costs.values(), Decimal(0)])
    slot = WIDTH / days
    drawn = []
    for n in range(days):
        day = (today - timedelta(days=days - 1 - n)).strftime("%Y-%m-%d")
        cost = costs.get(day, Decimal(0))
        height = float(cost / top) * HEIGHT if top > 0 and cost > 0 else 0.0
        drawn.append(Bar(day, cost, n * slot + 1, HEIGHT - height, slot - 2, height))
    return Bars(currency, top, tuple(drawn), tuple(sorted(set(by_currency) - {currency})))


@router.get("/costs")
async def costs(current: Visiting) -> Response:
    now = datetime.now(UTC)
    since = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    problem = None
    context: dict[str, Any] = {"chart": None, "breakdown": [], "budgets": [], "invoices": []}
    try:
        api = current.api
        per_day = (await api.costs.list(group_by=["day"], start=since, limit=SHOWN).page(None)).items
        context["chart"] = bars(per_day, now)
        breakdown = await api.costs.list(group_by=["cloud", "resource_type"], start=month, limit=SHOWN).page(None)
        context["breakdown"] = breakdown.items
        context["budgets"] = (await api.budgets.list(limit=100).page(None)).items
        context["invoices"] = (await api.invoices.list(limit=24).page(None)).items
    except ApiError as error:
        problem = Problem.of(error)
    return await current.page(
        "costs.html", problem.status if problem else 200, title="Costs", section="costs",
        width=WIDTH, height=HEIGHT, month=month.strftime("%Y-%m"), problem=problem, **context,
    )  # fmt: skip


@router.get("/invoices/{month}.{kind}")
async def invoice_file(month: str, kind: str, current: Visiting) -> Response:
    """A month's invoice as the PDF or CSV file the API answers."""
    if kind not in ("pdf", "csv"):
        return Response("Invoices are PDF or CSV files.", status_code=404, media_type="text/plain")
    content = await current.api.invoices.download(month, "pdf" if kind == "pdf" else "csv")
    media = "application/pdf" if kind == "pdf" else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="invoice-{month}.{kind}"'
    return current.keep(Response(content, media_type=media, headers={"content-disposition": disposition}))
