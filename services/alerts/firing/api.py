"""The alert routes: the alerts pending and firing now, and the history of those resolved."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel.authz import Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.alerts.firing import handlers
from services.alerts.firing.domain import Alert
from services.alerts.firing.repository import AlertFilter
from services.alerts.firing.schemas import AlertOut
from services.alerts.listing import AlertPaging
from services.alerts.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "alerts")


def alert_out(a: Alert, silenced: bool, inhibited: bool) -> AlertOut:
    return AlertOut(
        id=a.id,
        rule_id=a.rule_id,
        rule_name=a.rule_name,
        kind=a.kind,
        severity=a.severity,
        state=a.state,
        silenced=silenced,
        inhibited=inhibited,
        labels=a.labels,
        value=a.value,
        summary=a.summary,
        started_at=a.started_at,
        firing_since=a.firing_since,
        resolved_at=a.resolved_at,
        updated_at=a.updated_at,
    )


def _is_uuid(text: str | None) -> bool:
    try:
        return text is None or bool(uuid.UUID(text))
    except ValueError:
        return False


async def _page(request: Request, flt: AlertFilter, paging: AlertPaging, silenced: bool | None) -> Response:
    if not _is_uuid(flt.rule_id):
        return page_answer(AlertOut, [], None)  # no rule has that id
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    items = [alert_out(a, s, i) for a, s, i in records if silenced is None or s == silenced]
    return page_answer(AlertOut, items, next_cursor)


@routes.get(
    "/alerts",
    Page[AlertOut],
    "List the alerts now",
    description="The alerts firing now (and, with `state=pending`, those whose condition holds for less than the "
    "rule's `for`). A silenced alert still shows, with `silenced` true; one a firing alert inhibits, with `inhibited` "
    "true.",
)
async def list_alerts(
    request: Request,
    caller: Reader,
    paging: AlertPaging,
    state: Annotated[Literal["firing", "pending"] | None, Query(description="Both when not given")] = None,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[Literal["critical", "warning", "info"] | None, Query()] = None,
    instance_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[Literal["threshold", "no_data", "event_rate", "budget"] | None, Query()] = None,
    silenced: bool | None = None,
) -> Response:
    states = (state,) if state else ("pending", "firing")
    flt = AlertFilter(caller.project_id, states, rule_id, severity, instance_id, kind)
    return await _page(request, flt, paging, silenced)


@routes.get("/alerts/history", Page[AlertOut], "List resolved alerts")
async def alert_history(
    request: Request,
    caller: Reader,
    paging: AlertPaging,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[Literal["critical", "warning", "info"] | None, Query()] = None,
    instance_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[Literal["threshold", "no_data", "event_rate", "budget"] | None, Query()] = None,
) -> Response:
    flt = AlertFilter(caller.project_id, ("resolved",), rule_id, severity, instance_id, kind)
    return await _page(request, flt, paging, None)


@routes.get("/alerts/{alert_id}", AlertOut, "An alert", problems=(404,))
async def get_alert(request: Request, alert_id: str, caller: Reader) -> Response:
    alert, silenced, inhibited = await handlers.get(uow_of(request), caller.project_id, alert_id)
    return answer(alert_out(alert, silenced, inhibited))
