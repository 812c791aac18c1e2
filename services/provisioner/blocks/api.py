"""The launch blocks in force, read-only: why launches answer 409 `budget_exceeded`. Reached only through the
gateway; the project is the caller's; read by every member. The blocks themselves come from the billing service's
budget events, never from a call."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from kernel.authz import Reader
from kernel.http import Routes, page_answer, problem_responses
from kernel.keyset import PageRequest
from kernel.listing_query import page_query
from services.provisioner.blocks import handlers
from services.provisioner.blocks.answers import block_out
from services.provisioner.blocks.repository import BlockFilter
from services.provisioner.blocks.schemas import LaunchBlockOut
from services.provisioner.schemas import Page
from services.provisioner.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "launch-blocks")

BlockSort = Literal["blocked_at", "budget_name"]
BlockPaging = Annotated[PageRequest, Depends(page_query(BlockSort, default_order="desc"))]


@routes.get(
    "/launch-blocks",
    Page[LaunchBlockOut],
    "List the budgets that block launches now",
    description="Each budget of the project whose block_launches action fired and was not lifted: launches within "
    "its scope (the project, servers with a tag, a cluster) answer 409 budget_exceeded. Newest first by default.",
)
async def list_launch_blocks(
    request: Request,
    caller: Reader,
    paging: BlockPaging,
    kind: Annotated[Literal["project", "tag", "cluster"] | None, Query(description="The scope's kind")] = None,
    budget_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    flt = BlockFilter(caller.project_id, scope_kind=kind, budget_id=budget_id)
    found, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(LaunchBlockOut, [block_out(b) for b in found], next_cursor)
