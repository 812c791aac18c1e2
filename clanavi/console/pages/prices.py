"""A cloud account's prices: the catalog in force now (where it comes from and how old it is) and its versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from clanavi.client.errors import NotFound
from clanavi.console.visits import Visit, visit

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]


@router.get("/clouds/{cloud_id}/prices")
async def prices_page(cloud_id: str, current: Visiting) -> Response:
    cloud = await current.api.clouds.get(cloud_id)
    try:
        catalog = await current.api.prices.get(cloud_id)
    except NotFound:
        catalog = None  # the account has no prices yet: the page says so
    versions = await current.api.prices.versions(cloud_id)
    return await current.page(
        "prices.html", title=f"Prices of {cloud.name}", section="clouds", cloud=cloud, catalog=catalog,
        versions=versions,
    )  # fmt: skip
