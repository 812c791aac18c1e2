"""The audit trail: the events and the API calls beside them, with the API's filters (event type, resource, correlation
id, time; for calls who made them, the method, the status and the path), newest first by default, one page at a time,
the filters and the way back through the pages in the URL; and, for platform admins, the latest signed digests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import AuditDigest
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView
from clanavi.console.problems import Problem
from clanavi.console.visits import Visit, visit

__all__ = ["router"]

router = APIRouter()
# What the page's links carry (its form has fields of its own, for times).
FILTERS = tuple(
    Filter(name, name)
    for name in ("kind", "type", "resource_id", "correlation_id", "since", "until", "actor", "method", "status", "path")
)
# What the page shows: everything, or the API calls only.
KINDS = (("events", "Events"), ("all", "Events and API calls"), ("calls", "API calls"))
CALLS: dict[str, Literal["exclude", "include", "only"]] = {"events": "exclude", "all": "include", "calls": "only"}
DIGESTS_SHOWN = 5


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
    kind: str = "events",
    actor: str = "",
    method: str = "",
    status: str = "",
    path: str = "",
) -> Response:
    filters = {
        "type": type, "resource_id": resource_id, "correlation_id": correlation_id, "since": since, "until": until,
        "order": order, "kind": kind, "actor": actor, "method": method, "status": status, "path": path,
    }  # fmt: skip
    view = ListView.read(f"{CONSOLE_PREFIX}/audit", request.query_params, FILTERS, default_order="desc")
    problem = None
    times = {"since": _time(since), "until": _time(until)}
    bad = {name: "Not a date and time (YYYY-MM-DDTHH:MM)." for name in times if filters[name] and times[name] is None}
    code = int(status) if status.strip().isdigit() else None
    if status.strip() and code is None:
        bad["status"] = "An HTTP status: a number such as 404."
    types = [t.strip() for t in type.split(",") if t.strip()] or None
    events, next_cursor = [], None
    if bad:
        problem = Problem.invalid(bad)
    else:
        listing = current.api.audit.list(
            types=types,
            resource_id=resource_id.strip() or None,
            correlation_id=correlation_id.strip() or None,
            since=times["since"],
            until=times["until"],
            calls=CALLS.get(kind, "exclude"),
            actor=actor.strip() or None,
            method=method.strip().upper() or None,
            status=code,
            path=path.strip() or None,
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
        kinds=KINDS,
        digests=await _digests(current),
        title="Audit trail",
        section="audit",
        events=events,
        filters=filters,
        view=view.paged(next_cursor),
        problem=problem,
    )


async def _digests(current: Visit) -> list[AuditDigest] | None:
    """The latest digests, for platform admins; None for anybody else (the API refuses them)."""
    try:
        page = await current.api.audit.digests(limit=DIGESTS_SHOWN).page(None)
    except ApiError:
        return None
    return page.items
