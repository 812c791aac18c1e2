"""The cost routes: sums grouped and filtered, the lines themselves exported, a period re-rated. Reached only
through the gateway, which serves them from these declarations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime

from kernel.authz import Manager, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.listing_query import DEFAULT_LIMIT, MAX_LIMIT
from kernel.pagination import MAX_CURSOR_LENGTH, Page
from services.billing.costs import focus, handlers, query
from services.billing.costs.schemas import CostGroupOut, RerateIn, RerateOut
from services.billing.state import uow_of
from services.billing.usage import handlers as usage

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "costs")

Start = Annotated[AwareDatetime | None, Query(description="Lines whose ChargePeriodStart is at or after this")]
End = Annotated[AwareDatetime | None, Query(description="... and before this")]
Tag = Annotated[str | None, Query(max_length=256, description="`key` (lines carrying the tag) or `key=value`")]
Id = Annotated[str | None, Query(max_length=128)]


@routes.get(
    "/costs",
    Page[CostGroupOut],
    "Costs, summed by what you group them by",
    description="The project's cost lines (FOCUS 1.2; Correction lines included) summed per currency and per "
    "`group_by`: `day`, `month`, `cloud`, `resource`, `resource_type`, `cluster`, `template`, `scaling_group`, "
    "`service`, `region` or `tag:<key>` (up to four, repeated). Filters: the period (`start`, `end`, on "
    "ChargePeriodStart), `cloud_id`, `resource_id`, `cluster_id`, `tag`.",
)
async def list_costs(
    request: Request,
    caller: Reader,
    group_by: Annotated[list[str] | None, Query(max_length=MAX_LIMIT)] = None,
    start: Start = None,
    end: End = None,
    cloud_id: Id = None,
    resource_id: Id = None,
    cluster_id: Id = None,
    tag: Tag = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    grouping = query.grouping(group_by or ["day"])
    flt = query.cost_filter(
        caller.project_id,
        start=start,
        end=end,
        cloud_id=cloud_id,
        resource_id=resource_id,
        tag=tag,
        cluster_id=cluster_id,
    )
    found, next_cursor = await handlers.grouped(uow_of(request), flt, grouping, cursor, limit)
    items = [CostGroupOut(**{**g, "consumed_seconds": g.pop("seconds")}) for g in found]
    return page_answer(CostGroupOut, items, next_cursor)


@routes.get(
    "/costs/export",
    None,
    "Export cost lines",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    description="Every cost line under the filters, in FOCUS 1.2 column names with Clanavi's own as `x_` columns, "
    "in the order they were rated, streamed as CSV (a header row first) or JSON lines.",
)
async def export_costs(
    request: Request,
    caller: Reader,
    format: Literal["csv", "jsonl"] = "csv",  # noqa: A002 - the query parameter's name
    start: Start = None,
    end: End = None,
    cloud_id: Id = None,
    resource_id: Id = None,
    cluster_id: Id = None,
    tag: Tag = None,
) -> Response:
    flt = query.cost_filter(
        caller.project_id,
        start=start,
        end=end,
        cloud_id=cloud_id,
        resource_id=resource_id,
        tag=tag,
        cluster_id=cluster_id,
    )
    uow = uow_of(request)

    async def body() -> AsyncIterator[str]:
        if format == "csv":
            yield focus.csv_header()
        async for batch in handlers.lines(uow, flt):
            yield "".join(focus.csv_row(r) if format == "csv" else focus.jsonl_row(r) for r in batch)

    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={"content-disposition": f'attachment; filename="costs.{format}"'},
    )


@routes.post(
    "/costs/rerate",
    RerateOut,
    "Re-rate a period",
    problems=(403,),
    description="Rate the project's usage in [start, end) again with the prices known now (after a price "
    "correction, or prices that arrived after the usage): the differences are written as Correction lines; "
    "nothing already rated is changed.",
)
async def rerate(request: Request, body: RerateIn, caller: Manager) -> Response:
    start, end = query.period(body.start, body.end)
    written = await usage.rerate(uow_of(request), caller.project_id, start, end)
    return answer(RerateOut(start=start, end=end, lines=written))
