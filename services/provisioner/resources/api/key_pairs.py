"""Routes of key pairs: create one (its private key in this answer only), import one, list, read, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from kernel.authz import Operator, Reader
from kernel.http import problem_responses
from services.provisioner.listing import RecordPaging
from services.provisioner.resources import handlers
from services.provisioner.resources.api.common import (
    SEVERAL,
    WRITE,
    action_route,
    answer,
    get_route,
    key_pair_out,
    new_router,
    page,
    ports_of,
)
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import KeyPairCreate, KeyPairImport, KeyPairOut, KeyPairState, NewKeyPairOut
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id

router = new_router()


@router.post(
    "/key-pairs",
    status_code=201,
    response_model=NewKeyPairOut,
    tags=["key pairs"],
    summary="Create a key pair; the answer holds its private key, shown this once",
    responses=problem_responses(403, 409, 501),
)
async def create_key_pair(request: Request, response: Response, body: KeyPairCreate, caller: Operator) -> NewKeyPairOut:
    outcome = await handlers.create_key_pair(
        ports_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        correlation_id=correlation_id(),
    )
    response.status_code = 201 if outcome.done else 202
    return NewKeyPairOut(**key_pair_out(outcome.record).model_dump(), private_key=outcome.private_key)


@router.post(
    "/key-pairs/import",
    status_code=201,
    response_model=KeyPairOut,
    tags=["key pairs"],
    summary="Import a key pair from an OpenSSH public key",
    responses=WRITE,
)
async def import_key_pair(request: Request, response: Response, body: KeyPairImport, caller: Operator) -> KeyPairOut:
    outcome = await handlers.import_key_pair(
        ports_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        public_key=body.public_key,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, key_pair_out, created=True)


@router.get("/key-pairs", response_model=Page[KeyPairOut], tags=["key pairs"], summary="List key pairs")
async def list_key_pairs(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[KeyPairState] | None, Query(description=SEVERAL)] = None,
    name: str | None = None,
) -> Page[KeyPairOut]:
    flt = ResourceFilter(caller.project_id, "key_pair", cloud_id=cloud_id, states=state or (), name=name)
    return await page(request, key_pair_out, flt, paging)


get_route(
    router, "/key-pairs/{key_pair_id}", "key_pair", key_pair_out, KeyPairOut, name="get_key_pair", tag="key pairs"
)


action_route(
    router,
    "DELETE",
    "/key-pairs/{key_pair_id}",
    "key_pair",
    "delete",
    key_pair_out,
    KeyPairOut,
    name="delete_key_pair",
    tag="key pairs",
    summary="Delete a key pair; repeating it is harmless",
)


__all__ = ["router"]
