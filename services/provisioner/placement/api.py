"""The allocator's route: where servers would go, and why, without launching anything. Reached only through the
gateway."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kernel.authz import Operator
from kernel.http import Routes, answer, problem_responses
from services.provisioner.clouds.api import clouds_of
from services.provisioner.placement import handlers
from services.provisioner.placement.answers import placement_out
from services.provisioner.placement.schemas import PlacementOut
from services.provisioner.schemas import PlacementCreate
from services.provisioner.state import uow_of

router = APIRouter(prefix="/v1", tags=["placement"], responses=problem_responses(401, 422))
routes = Routes(router)


@routes.post(
    "/placements",
    PlacementOut,
    "Place servers by policy (a dry run)",
    status=200,
    problems=(403, 409),
    description="The server as a launch names it (a template with its inputs, an image with a flavor, or "
    "`requirements`), `count` servers placed in one decision by `placement`: the allocator filters every (cloud, "
    "zone, flavor) of the project's clouds, weighs the rest by the strategy (cheapest, spread, pack; the smallest "
    "sufficient flavor breaks near ties; ties at random, or by `seed`) and answers each placed server with its "
    "hourly and monthly price, and every candidate with its score or why it was rejected. Nothing is recorded, no "
    "event. When fewer than `count` fit: 422 `placement_failed` with the same `candidates`.",
)
async def create_placement(request: Request, body: PlacementCreate, caller: Operator) -> Response:
    policy, named_in = body.placement.policy(), None
    if body.cloud_id is not None and not policy.cloud_ids:
        policy, named_in = handlers.only_cloud(policy, body.cloud_id), "body.cloud_id"
    spec = handlers.ServerSpec(
        template=None
        if body.template_id is None
        else handlers.FromTemplate(body.template_id, body.template_version, body.inputs),
        image_id=body.image_id,
        flavor_id=body.flavor_id,
        requirements=None if body.requirements is None else body.requirements.requirements(),
        key_name=body.key_name,
        security_group_ids=tuple(body.security_group_ids),
        user_data=body.user_data,
        zone=body.zone,
    )
    found = await handlers.place(
        uow_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        spec=spec,
        policy=policy,
        count=body.count,
        cloud_named_in=named_in,
    )
    return answer(placement_out(found))


__all__ = ["router"]
