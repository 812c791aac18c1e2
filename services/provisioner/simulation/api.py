"""SimCloud's simulation through the API: a zone outage (owners), an instance's load profile (operators). Reached
only through the gateway."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kernel.authz import Manager, Operator
from kernel.http import Routes, answer, problem_responses
from services.provisioner.clouds.api import clouds_of
from services.provisioner.instances.api import instance_out
from services.provisioner.schemas import InstanceOut
from services.provisioner.simulation import handlers
from services.provisioner.simulation.schemas import LoadIn, ZoneStateIn, ZoneStateOut
from services.provisioner.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "simulation")


@routes.put(
    "/clouds/{cloud_id}/simulation/zones/{zone}",
    ZoneStateOut,
    "Take a SimCloud zone down or bring it up (fault injection)",
    problems=(403, 404),
    description="SimCloud accounts only (another cloud is a 422). While a zone is down its instances are in `error` in "
    "the cloud (their metrics stop) and every launch there fails; the provisioner records them in error "
    "(`instance.failed`) within a metrics round. Brought up, launches succeed again; the instances it caught stay in "
    "error.",
)
async def set_zone_state(request: Request, cloud_id: str, zone: str, body: ZoneStateIn, caller: Manager) -> Response:
    await handlers.set_zone_state(
        uow_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=cloud_id,
        zone=zone,
        state=body.state,
    )
    return answer(ZoneStateOut(cloud_id=cloud_id, zone=zone, state=body.state))


@routes.put(
    "/instances/{instance_id}/simulation/load",
    InstanceOut,
    "Change a SimCloud instance's CPU load profile",
    problems=(403, 404, 409),
    description="SimCloud instances only (another cloud's is a 422). The samples the provisioner publishes follow the "
    "new profile from now on.",
)
async def set_load(request: Request, instance_id: str, body: LoadIn, caller: Operator) -> Response:
    record = await handlers.set_load(
        uow_of(request), clouds_of(request), project_id=caller.project_id, instance_id=instance_id, profile=body.profile
    )
    return answer(instance_out(record))


__all__ = ["router"]
