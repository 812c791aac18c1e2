"""Routes of addresses (elastic / floating IPs): allocate, associate, disassociate, release."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from kernel.authz import Operator, Reader
from services.provisioner.listing import RecordPaging
from services.provisioner.resources import handlers
from services.provisioner.resources.api.common import (
    SEVERAL,
    WRITE,
    action_route,
    address_out,
    answer,
    get_route,
    new_router,
    page,
    ports_of,
)
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import AddressAllocate, AddressAssociate, AddressOut, AddressStateName
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id

router = new_router()


@router.post(
    "/addresses",
    status_code=201,
    response_model=AddressOut,
    tags=["addresses"],
    summary="Allocate a public address (elastic / floating IP)",
    responses=WRITE,
)
async def allocate_address(request: Request, response: Response, body: AddressAllocate, caller: Operator) -> AddressOut:
    outcome = await handlers.allocate_address(
        ports_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, address_out, created=True)


@router.get("/addresses", response_model=Page[AddressOut], tags=["addresses"], summary="List addresses")
async def list_addresses(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[AddressStateName] | None, Query(description=SEVERAL)] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Associated with this instance")] = None,
) -> Page[AddressOut]:
    flt = ResourceFilter(
        caller.project_id, "address", cloud_id=cloud_id, states=state or (), name=name, instance_id=instance_id
    )
    return await page(request, address_out, flt, paging)


get_route(router, "/addresses/{address_id}", "address", address_out, AddressOut, name="get_address", tag="addresses")


action_route(
    router,
    "DELETE",
    "/addresses/{address_id}",
    "address",
    "release",
    address_out,
    AddressOut,
    name="release_address",
    tag="addresses",
    summary="Release an address that is not associated; repeating it is harmless",
)


@router.post(
    "/addresses/{address_id}/actions/associate",
    response_model=AddressOut,
    tags=["addresses"],
    summary="Associate with an instance of the same cloud",
    responses=WRITE,
)
async def associate_address(
    request: Request, response: Response, address_id: str, body: AddressAssociate, caller: Operator
) -> AddressOut:
    outcome = await handlers.associate_address(
        ports_of(request),
        project_id=caller.project_id,
        address_id=address_id,
        instance_id=body.instance_id,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, address_out, created=False)


action_route(
    router,
    "POST",
    "/addresses/{address_id}/actions/disassociate",
    "address",
    "disassociate",
    address_out,
    AddressOut,
    name="disassociate_address",
    tag="addresses",
    summary="Disassociate from its instance",
)


__all__ = ["router"]
