"""Routes of the images a project makes from its instances."""

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
    answer,
    get_route,
    image_out,
    new_router,
    page,
    ports_of,
)
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import CustomImageOut, CustomImageState, ImageCreate
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id

router = new_router()


@router.post(
    "/images",
    status_code=201,
    response_model=CustomImageOut,
    tags=["images"],
    summary="Make an image from an instance; it goes pending -> available (launch it by its provider_id)",
    responses=WRITE,
)
async def create_image(request: Request, response: Response, body: ImageCreate, caller: Operator) -> CustomImageOut:
    outcome = await handlers.create_image(
        ports_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        instance_id=body.instance_id,
        name=body.name,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, image_out, created=True)


@router.get(
    "/images/custom",
    response_model=Page[CustomImageOut],
    tags=["images"],
    summary="List the images the project made from instances",
)
async def list_custom_images(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[CustomImageState] | None, Query(description=SEVERAL)] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Made from this instance")] = None,
) -> Page[CustomImageOut]:
    flt = ResourceFilter(
        caller.project_id, "image", cloud_id=cloud_id, states=state or (), name=name, instance_id=instance_id
    )
    return await page(request, image_out, flt, paging)


get_route(
    router,
    "/images/{image_id}",
    "image",
    image_out,
    CustomImageOut,
    name="get_image",
    tag="images",
    summary="An image the project made (by its Clanavi id)",
)


action_route(
    router,
    "DELETE",
    "/images/{image_id}",
    "image",
    "deregister",
    image_out,
    CustomImageOut,
    name="deregister_image",
    tag="images",
    summary="Deregister an image the project made; repeating it is harmless",
)


__all__ = ["router"]
