"""The audit trail: the API's filters (event type, resource, correlation id, time), newest first by default, one
page at a time, the filters and the way back through the pages in the URL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView
from clanavi.console.problems import Problem
from clanavi.console.visits import Visit, visit

__all__ = ["router"]

router = APIRouter()
# What the page's links carry (its form has fields of its own, for times).
FILTERS = tuple(Filter(name, name) for name in ("type", "resource_id", "correlation_id", "since", "until"))


def _time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/audit")
async def audit(
    request: Request,
    current: Annotated[Visit, Depends(visit)],
    type: str = "",
    resource_id: str = "",
    correlation_id: str = "",
    since: str = "",
    until: str = "",
    order: str = "desc",
) -> Response:
    filters = {
        "type": type, "resource_id": resource_id, "correlation_id": correlation_id, "since": since, "until": until,
        "order": order,
    }  # fmt: skip
    view = ListView.read(f"{CONSOLE_PREFIX}/audit", request.query_params, FILTERS, default_order="desc")
    problem = None
    times = {"since": _time(since), "until": _time(until)}
    bad = {name: "Not a date and time (YYYY-MM-DDTHH:MM)." for name in times if filters[name] and times[name] is None}
    events, next_cursor = [], None
    if bad:
        problem = Problem("The request has invalid or missing fields.", fields=bad)
    else:
        listing = current.api.audit.list(
            types=[t.strip() for t in type.split(",") if t.strip()] or None,
            resource_id=resource_id.strip() or None,
            correlation_id=correlation_id.strip() or None,
            since=times["since"],
            until=times["until"],
            order="asc" if order == "asc" else "desc",
            limit=view.arguments()["limit"],
        )
        try:
            page = await listing.page(view.paging.cursor or None)
            events, next_cursor = page.items, page.next_cursor
        except ApiError as error:
            problem = Problem.of(error)
    return await current.page(
        "audit.html",
        problem.status if problem else 200,
        title="Audit trail",
        section="audit",
        events=events,
        filters=filters,
        view=view.paged(next_cursor),
        problem=problem,
    )
