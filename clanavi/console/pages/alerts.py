"""Alerts: the alerts firing (and pending) now, silenced ones marked, with the silences in force (operators expire
one here), the project's alert rules and its notification channels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, listed_at
from clanavi.console.problems import Problem
from clanavi.console.visits import Visit, checked_form, visit

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
ALERT_FILTERS = (
    Filter("state", "State", "select", [("firing", "firing"), ("pending", "pending")]),
    Filter("severity", "Severity", "select", [(s, s) for s in ("critical", "warning", "info")]),
    Filter("rule_id", "Rule id"),
    Filter("instance_id", "Instance id"),
    Filter("silenced", "Silenced", "bool"),
)
ALERT_SORTS = (("started_at", "Started"), ("updated_at", "Changed"))
# The most rules, channels and silences the page shows beside the alerts.
SHOWN = 100


async def _alerts_page(current: Visit, given: QueryParams | None = None, problem: Problem | None = None) -> Response:
    view, found, refused = await listed_at(current.api.alerts, "/alerts", given, ALERT_FILTERS, ALERT_SORTS)
    rules, channels, silences = [], [], []
    try:
        rules = (await current.api.alert_rules.list(limit=SHOWN).page(None)).items
        channels = (await current.api.channels.list(limit=SHOWN).page(None)).items
        silences = (await current.api.silences.list(state="active", limit=SHOWN).page(None)).items
    except ApiError as error:
        refused = refused or Problem.of(error)
    problem = problem or refused
    return await current.page(
        "alerts.html", problem.status if problem else 200, title="Alerts", section="alerts",
        alerts=found, view=view, rules=rules, channels=channels, silences=silences, problem=problem,
    )  # fmt: skip


@router.get("/alerts")
async def alerts(request: Request, current: Visiting) -> Response:
    return await _alerts_page(current, request.query_params)


@router.post("/silences/{silence_id}/expire")
async def expire_silence(silence_id: str, request: Request, current: Visiting) -> Response:
    await checked_form(request, current.session)
    try:
        await current.api.silences.expire(silence_id)
    except ApiError as error:
        return await _alerts_page(current, problem=Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/alerts")
