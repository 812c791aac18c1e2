"""Costs: the project's cost per day over the last month as a bar chart (inline SVG drawn here, so it needs no script
and passes the console's content security policy), the month's cost per cloud and kind of resource, the budgets
with this month's spend (owners make and delete them here), the invoices by month, and a period rated again with the
prices known now (owners)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import CostGroupOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.problems import FieldOf, Problem, first_part
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["Bars", "bars", "budget_body", "moment", "router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
# The chart's drawing area, in SVG user units, and how many days it shows.
WIDTH, HEIGHT = 600.0, 160.0
DAYS = 31
SHOWN = 500
# The budget form: its scope, its amount and up to this many thresholds, a row of fields each.
THRESHOLD_ROWS = 3
SCOPES = (("project", "the whole project"), ("tag", "the servers with a tag"), ("cluster", "a cluster's servers"))
BASES = (("actual", "of the spend so far"), ("forecast", "of the month's forecast"))
ACTIONS = (("notify", "notify"), ("block_launches", "block launches"), ("stop_servers", "stop servers"))


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


def budget_body(form: Form) -> tuple[dict[str, Any], FieldOf]:
    """The budget the form asks for (the API checks every field), and the form's field for each of the body's."""
    kind = form.get("scope").strip() or "project"
    scope: dict[str, Any] = {"kind": kind}
    if kind == "tag":
        scope.update(tag_key=form.optional("tag_key"), tag_value=form.optional("tag_value"))
    elif kind == "cluster":
        scope["cluster_id"] = form.optional("cluster_id")
    thresholds, rows = [], []
    for n in range(THRESHOLD_ROWS):
        percent = form.get(f"percent_{n}").strip()
        if percent:
            actions = form.getlist(f"actions_{n}") or ["notify"]
            thresholds.append({"percent": percent, "basis": form.get(f"basis_{n}") or "actual", "actions": actions})
            rows.append(n)
    body = {
        "name": form.get("name").strip(),
        "scope": scope,
        "amount": form.get("amount").strip(),
        "currency": form.get("currency").strip().upper(),
        "thresholds": thresholds,
    }

    def field_of(parts: list[str]) -> str | None:
        # `scope.tag_key` is the form's `tag_key` (a scope missing its key or cluster: that field);
        # `thresholds.1.percent` the percent of the row it came from.
        if parts[:1] == ["scope"]:
            return parts[1] if len(parts) > 1 else {"tag": "tag_key", "cluster": "cluster_id"}.get(kind, "scope")
        if parts[:1] == ["thresholds"] and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
            return f"{parts[2] if len(parts) > 2 else 'percent'}_{rows[int(parts[1])]}"
        return first_part(parts)

    return body, field_of


def moment(text: str) -> datetime:
    """A time as the form gives it: an ISO 8601 date or time, in UTC unless it names its offset."""
    at = datetime.fromisoformat(text.strip())
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def _costs_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None, notice: str | None = None
) -> Response:
    now = datetime.now(UTC)
    since = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
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
        problem = problem or Problem.of(error)
    shown = {"currency": "USD", "scope": "project", "start": month.strftime("%Y-%m-%d"), **(values or {})}
    return await current.page(
        "costs.html", problem.status if problem else 200, title="Costs", section="costs",
        width=WIDTH, height=HEIGHT, month=month.strftime("%Y-%m"), problem=problem, notice=notice, values=shown,
        manage=await current.may_manage(), scopes=SCOPES, bases=BASES, actions=ACTIONS,
        threshold_rows=range(THRESHOLD_ROWS), **context,
    )  # fmt: skip


@router.get("/costs")
async def costs(current: Visiting) -> Response:
    return await _costs_page(current)


@router.post("/budgets")
async def create_budget(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    body, field_of = budget_body(form)
    try:
        await current.api.budgets.create(body)
    except (ApiError, ValidationError) as error:
        return await _costs_page(current, Problem.of(error, field_of), _as_sent(form))
    return current.redirect(f"{CONSOLE_PREFIX}/costs")


def _as_sent(form: Form) -> dict[str, str]:
    # The threshold rows' ticked actions, kept as `actions_<row>:<action>` for the form shown again.
    sent = form.values()
    for n in range(THRESHOLD_ROWS):
        sent.update({f"actions_{n}:{action}": "on" for action in form.getlist(f"actions_{n}")})
    return sent


@router.post("/budgets/{budget_id}/delete")
async def delete_budget(budget_id: str, request: Request, current: Visiting) -> Response:
    await checked_form(request, current.session)
    try:
        await current.api.budgets.delete(budget_id)
    except ApiError as error:
        return await _costs_page(current, Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/costs")


@router.post("/costs/rerate")
async def rerate(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    values = form.values()
    period: dict[str, Any] = {}
    unreadable = {}
    for name in ("start", "end"):
        try:
            period[name] = moment(form.get(name))
        except ValueError:
            unreadable[name] = "A date (2026-12-01) or a time (2026-12-01T06:00), in UTC unless it names its offset."
    if unreadable:
        return await _costs_page(current, Problem.invalid(unreadable), values)
    try:
        done = await current.api.costs.rerate(period)
    except (ApiError, ValidationError) as error:
        return await _costs_page(current, Problem.of(error), values)
    start, end = done.start.astimezone(UTC), done.end.astimezone(UTC)
    notice = f"Rated {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC again: {done.lines} Correction lines."
    return await _costs_page(current, values=values, notice=notice)


@router.get("/invoices/{month}.{kind}")
async def invoice_file(month: str, kind: str, current: Visiting) -> Response:
    """A month's invoice as the PDF or CSV file the API answers."""
    if kind not in ("pdf", "csv"):
        return Response("Invoices are PDF or CSV files.", status_code=404, media_type="text/plain")
    content = await current.api.invoices.download(month, "pdf" if kind == "pdf" else "csv")
    media = "application/pdf" if kind == "pdf" else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="invoice-{month}.{kind}"'
    return current.keep(Response(content, media_type=media, headers={"content-disposition": disposition}))
