"""The budget routes: parse, call a handler, shape the answer. Reached only through the gateway, which serves them
from these declarations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel import correlation
from kernel.authz import Manager, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.billing.budgets import handlers
from services.billing.budgets.domain import Threshold
from services.billing.budgets.handlers import BudgetSpec, Standing
from services.billing.budgets.repository import BudgetFilter
from services.billing.budgets.schemas import BudgetIn, BudgetOut, ThresholdOut
from services.billing.listing import BudgetPaging
from services.billing.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "budgets")


def budget_out(s: Standing) -> BudgetOut:
    b = s.budget
    crossed = set(b.crossed) if b.period == s.period else set()
    return BudgetOut(
        id=b.id,
        name=b.name,
        scope=b.scope,
        amount=b.amount,
        currency=b.currency,
        thresholds=[
            ThresholdOut(percent=t.percent, basis=t.basis, actions=list(t.actions), crossed=t.key in crossed)
            for t in b.thresholds
        ],
        period=s.period,
        spent=s.spent,
        forecast=s.forecast,
        launches_blocked=b.launches_blocked,
        created_at=b.created_at,
        updated_at=b.updated_at,
    )


def _spec(body: BudgetIn) -> BudgetSpec:
    return BudgetSpec(
        name=body.name,
        scope=body.scope.scope(),
        amount=body.amount,
        currency=body.currency,
        thresholds=tuple(Threshold(t.percent, t.basis, tuple(dict.fromkeys(t.actions))) for t in body.thresholds),
    )


def _correlation() -> str:
    return correlation.accept_or_new(correlation.current.get())


@routes.post(
    "/budgets",
    BudgetOut,
    "Create a budget",
    status=201,
    problems=(403, 409),
    description="A monthly `amount` in `currency` over the project, the servers with a tag, or a cluster, with "
    "thresholds (percent of the amount, 1-1000) on the actual or the forecast spend, each with its actions: "
    "`notify` (`budget.threshold_crossed`), `block_launches` (the provisioner refuses new launches in the scope "
    "until the amount is raised or the month ends), `stop_servers` (the scope's running servers not tagged "
    "`clanavi:protected=true` are stopped). 409 when the project has a budget of that name.",
)
async def create_budget(request: Request, body: BudgetIn, caller: Manager) -> Response:
    standing = await handlers.create(
        uow_of(request), project_id=caller.project_id, spec=_spec(body), correlation_id=_correlation()
    )
    return answer(budget_out(standing), status=201)


@routes.get("/budgets", Page[BudgetOut], "List budgets")
async def list_budgets(
    request: Request,
    caller: Reader,
    paging: BudgetPaging,
    name: Annotated[str | None, Query(max_length=200)] = None,
    scope: Literal["project", "tag", "cluster"] | None = None,
) -> Response:
    found, cursor = await handlers.page(uow_of(request), BudgetFilter(caller.project_id, name, scope), paging)
    return page_answer(BudgetOut, [budget_out(s) for s in found], cursor)


@routes.get("/budgets/{budget_id}", BudgetOut, "A budget, with this month's spend", problems=(404,))
async def get_budget(request: Request, budget_id: str, caller: Reader) -> Response:
    return answer(budget_out(await handlers.get(uow_of(request), caller.project_id, budget_id)))


@routes.put(
    "/budgets/{budget_id}",
    BudgetOut,
    "Change a budget",
    problems=(403, 404, 409),
    description="The whole budget, as when created. Raising the amount above the spend unblocks launches at once.",
)
async def update_budget(request: Request, budget_id: str, body: BudgetIn, caller: Manager) -> Response:
    standing = await handlers.update(
        uow_of(request),
        project_id=caller.project_id,
        budget_id=budget_id,
        spec=_spec(body),
        correlation_id=_correlation(),
    )
    return answer(budget_out(standing))


@routes.delete("/budgets/{budget_id}", None, "Delete a budget", status=204, problems=(403, 404))
async def delete_budget(request: Request, budget_id: str, caller: Manager) -> Response:
    await handlers.delete(uow_of(request), caller.project_id, budget_id, _correlation())
    return Response(status_code=204)
