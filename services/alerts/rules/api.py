"""The alert rule routes: parse, call a handler, shape the answer. Reached only through the gateway, which serves
them from these declarations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.alerts.listing import RulePaging
from services.alerts.rules import handlers
from services.alerts.rules.domain import Rule
from services.alerts.rules.repository import RuleFilter
from services.alerts.rules.schemas import AlertRuleIn, AlertRuleOut, RoutingOut, ScopeOut
from services.alerts.rules.specs import spec_of
from services.alerts.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "alerts")


def rule_out(r: Rule) -> AlertRuleOut:
    c = r.condition
    return AlertRuleOut(
        id=r.id,
        name=r.name,
        kind=r.kind,
        severity=r.severity,
        metric=c.metric,
        operator=c.operator,
        value=c.value,
        for_seconds=c.for_seconds,
        keep_firing_for_seconds=c.keep_firing_for_seconds,
        quiet_seconds=c.quiet_seconds,
        event_type=c.event_type,
        count=c.count,
        window_seconds=c.window_seconds,
        budget_id=c.budget_id,
        basis=c.basis,
        min_percent=c.min_percent,
        scope=ScopeOut(**c.scope.as_json()),
        channel_ids=list(r.channel_ids),
        routing=RoutingOut(**r.routing.as_json()),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


RuleBody = Annotated[AlertRuleIn, Body()]


@routes.post(
    "/alert-rules",
    AlertRuleOut,
    "Create an alert rule",
    status=201,
    problems=(403, 409),
    description="A rule of one kind: `threshold` (a metric compared with a value, for a while), `no_data` (a metric "
    "gone quiet), `event_rate` (at least `count` events of a type within a window) or `budget` (a budget's threshold "
    "crossed). A metric must be a cloud metric or one pushed in the project (422 naming `metric` otherwise). "
    "Its alerts go to `channel_ids`, grouped and timed by `routing`. 409 when the project has a rule of that name.",
)
async def create_rule(request: Request, body: RuleBody, caller: Operator) -> Response:
    rule = await handlers.create(
        uow_of(request), project_id=caller.project_id, spec=spec_of(body), correlation_id=correlation_id()
    )
    return answer(rule_out(rule), status=201)


@routes.get("/alert-rules", Page[AlertRuleOut], "List alert rules")
async def list_rules(
    request: Request,
    caller: Reader,
    paging: RulePaging,
    kind: Annotated[Literal["threshold", "no_data", "event_rate", "budget"] | None, Query()] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    metric: Annotated[str | None, Query(max_length=100)] = None,
    channel_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    flt = RuleFilter(project_id=caller.project_id, kind=kind, name=name, metric=metric, channel_id=channel_id)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(AlertRuleOut, [rule_out(r) for r in records], next_cursor)


@routes.get("/alert-rules/{alert_rule_id}", AlertRuleOut, "An alert rule", problems=(404,))
async def get_rule(request: Request, alert_rule_id: str, caller: Reader) -> Response:
    return answer(rule_out(await handlers.get(uow_of(request), caller.project_id, alert_rule_id)))


@routes.put(
    "/alert-rules/{alert_rule_id}",
    AlertRuleOut,
    "Change an alert rule",
    problems=(403, 404, 409),
    description="The whole rule, as when created; its live alerts are judged by it from the next sample or event.",
)
async def update_rule(request: Request, alert_rule_id: str, body: RuleBody, caller: Operator) -> Response:
    rule = await handlers.update(
        uow_of(request),
        project_id=caller.project_id,
        rule_id=alert_rule_id,
        spec=spec_of(body),
        correlation_id=correlation_id(),
    )
    return answer(rule_out(rule))


@routes.delete("/alert-rules/{alert_rule_id}", None, "Delete an alert rule", status=204, problems=(403, 404))
async def delete_rule(request: Request, alert_rule_id: str, caller: Operator) -> Response:
    await handlers.delete(uow_of(request), caller.project_id, alert_rule_id)
    return Response(status_code=204)
