"""Alerts: the alerts firing (and pending) now, silenced ones marked, with the silences in force (operators make one
here, or expire one), the project's alert rules and its notification channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, listed_at
from clanavi.console.problems import Problem, first_part
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["Unreadable", "router", "silence_body", "silence_field"]

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


_MATCHER_HELP = "One matcher a line: label=value, or label=~regular expression."
# The longest silence the form makes: a year (the API takes any end; a longer one is a rule to change).
_MOST_HOURS = 24 * 366


class Unreadable(ValueError):
    """A form field the console cannot make a body of (the API is not asked): which, and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def silence_body(form: Form, now: datetime) -> dict[str, Any]:
    """The silence the form asks for; the API checks each matcher's label, value and expression."""
    matchers = []
    for line in form.get("matchers").splitlines():
        text = line.strip()
        if not text:
            continue
        label, regex, value = text.partition("=~")
        if not regex:
            label, equals, value = text.partition("=")
            if not equals:
                raise Unreadable("matchers", f"{text!r} is not a matcher. {_MATCHER_HELP}")
        matchers.append({"label": label.strip(), "value": value.strip(), "regex": bool(regex)})
    if not matchers:
        raise Unreadable("matchers", f"A silence needs a matcher. {_MATCHER_HELP}")
    try:
        hours = float(form.get("hours").strip())
    except ValueError:
        raise Unreadable("hours", "How long, in hours: a number such as 2 or 0.5.") from None
    if not 0 < hours <= _MOST_HOURS:
        raise Unreadable("hours", f"How long, in hours: more than 0 and at most {_MOST_HOURS}.")
    ends = now + timedelta(hours=hours)
    return {"matchers": matchers, "ends_at": ends.isoformat(), "comment": form.get("comment").strip()}


def silence_field(parts: list[str]) -> str | None:
    # The body's times come from the form's hours; its matchers from the one text.
    name = first_part(parts)
    return "hours" if name in ("starts_at", "ends_at") else name


async def _alerts_page(
    current: Visit,
    given: QueryParams | None = None,
    problem: Problem | None = None,
    values: dict[str, str] | None = None,
) -> Response:
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
        values=values or {"hours": "2"},
    )  # fmt: skip


@router.get("/alerts")
async def alerts(request: Request, current: Visiting) -> Response:
    return await _alerts_page(current, request.query_params)


@router.post("/silences")
async def create_silence(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        await current.api.silences.create(silence_body(form, datetime.now(UTC)))
    except Unreadable as unreadable:
        problem = Problem.invalid({unreadable.field: str(unreadable)})
        return await _alerts_page(current, problem=problem, values=form.values())
    except (ApiError, ValidationError) as error:
        return await _alerts_page(current, problem=Problem.of(error, silence_field), values=form.values())
    return current.redirect(f"{CONSOLE_PREFIX}/alerts")


@router.post("/silences/{silence_id}/expire")
async def expire_silence(silence_id: str, request: Request, current: Visiting) -> Response:
    await checked_form(request, current.session)
    try:
        await current.api.silences.expire(silence_id)
    except ApiError as error:
        return await _alerts_page(current, problem=Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/alerts")
