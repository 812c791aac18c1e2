"""The public API of key pairs, security groups, volumes, snapshots, addresses and images made from instances.

Every id in a path or a body is a Clanavi id. A write answers 201 (created) or 200 when the cloud carried it out in
the request, 202 when the cloud did not answer and Clanavi finishes it in the background (the resource shows the
action pending). 501 `unsupported_operation` when the cloud's adapter does not declare the operation; 503 with
Retry-After when the cloud throttles.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from kernel.authz import Operator, Reader
from kernel.identity import Identity
from services.gateway.api import Provisioner, forward_route, problem_responses, query_items, quoted
from services.provisioner.listing import RecordPaging
from services.provisioner.schemas import (
    AddressAllocate,
    AddressAssociate,
    AddressOut,
    AddressStateName,
    CustomImageOut,
    CustomImageState,
    ImageCreate,
    KeyPairCreate,
    KeyPairCreated,
    KeyPairImport,
    KeyPairOut,
    KeyPairState,
    Page,
    SecurityGroupCreate,
    SecurityGroupOut,
    SecurityGroupState,
    SecurityRuleIn,
    SnapshotCreate,
    SnapshotOut,
    SnapshotStateName,
    VolumeAttach,
    VolumeCreate,
    VolumeOut,
    VolumeStateName,
)

router = APIRouter(prefix="/v1", responses=problem_responses(401, 413, 422, 429, 503))


_WRITE: dict[int | str, dict[str, object]] = {
    **problem_responses(403, 404, 409, 501),
    202: {"description": "The cloud did not answer; Clanavi finishes the action in the background"},
}


async def _post(up: Provisioner, path: str, caller: Identity, body: BaseModel) -> Response:
    return await up.forward("POST", path, caller=caller, body=body.model_dump_json().encode())


# --- key pairs -------------------------------------------------------------------------------------------------


@router.post(
    "/key-pairs",
    status_code=201,
    response_model=KeyPairCreated,
    tags=["key pairs"],
    summary="Create a key pair; the answer holds its private key, shown this once",
    responses=problem_responses(403, 409, 501),
)
async def create_key_pair(body: KeyPairCreate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/key-pairs", caller, body)


@router.post(
    "/key-pairs/import",
    status_code=201,
    response_model=KeyPairOut,
    tags=["key pairs"],
    summary="Import a key pair from an OpenSSH public key",
    responses=_WRITE,
)
async def import_key_pair(body: KeyPairImport, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/key-pairs/import", caller, body)


@router.get("/key-pairs", response_model=Page[KeyPairOut], tags=["key pairs"], summary="List key pairs")
async def list_key_pairs(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[KeyPairState] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
) -> Response:
    return await up.forward("GET", "/v1/key-pairs", caller=caller, params=query_items(request))


forward_route(
    router,
    "GET",
    "/key-pairs/{key_pair_id}",
    KeyPairOut,
    name="get_key_pair",
    tag="key pairs",
    responses=problem_responses(404),
)


forward_route(
    router,
    "DELETE",
    "/key-pairs/{key_pair_id}",
    KeyPairOut,
    name="delete_key_pair",
    tag="key pairs",
    responses=_WRITE,
    summary="Delete a key pair; repeating it is harmless",
)


# --- security groups -------------------------------------------------------------------------------------------


@router.post(
    "/security-groups",
    status_code=201,
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Create a security group",
    responses=_WRITE,
)
async def create_security_group(body: SecurityGroupCreate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/security-groups", caller, body)


@router.get(
    "/security-groups", response_model=Page[SecurityGroupOut], tags=["security groups"], summary="List security groups"
)
async def list_security_groups(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[SecurityGroupState] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
) -> Response:
    return await up.forward("GET", "/v1/security-groups", caller=caller, params=query_items(request))


forward_route(
    router,
    "GET",
    "/security-groups/{group_id}",
    SecurityGroupOut,
    name="get_security_group",
    tag="security groups",
    responses=problem_responses(404),
)


forward_route(
    router,
    "DELETE",
    "/security-groups/{group_id}",
    SecurityGroupOut,
    name="delete_security_group",
    tag="security groups",
    responses=_WRITE,
    summary="Delete a security group (409 while instances that are not terminated use it)",
)


@router.post(
    "/security-groups/{group_id}/rules",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Authorize a rule (granting one the group has already changes nothing)",
    responses=_WRITE,
)
async def authorize_rule(group_id: str, body: SecurityRuleIn, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, f"/v1/security-groups/{quoted(group_id)}/rules", caller, body)


@router.delete(
    "/security-groups/{group_id}/rules/{rule_id}",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Revoke a rule, by the id the group lists it with",
    responses=_WRITE,
)
async def revoke_rule(group_id: str, rule_id: str, caller: Operator, up: Provisioner) -> Response:
    return await up.forward("DELETE", f"/v1/security-groups/{quoted(group_id)}/rules/{quoted(rule_id)}", caller=caller)


# --- volumes ---------------------------------------------------------------------------------------------------


@router.post(
    "/volumes",
    status_code=201,
    response_model=VolumeOut,
    tags=["volumes"],
    summary="Create a volume (empty, or from a snapshot); it goes creating -> available",
    responses=_WRITE,
)
async def create_volume(body: VolumeCreate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/volumes", caller, body)


@router.get("/volumes", response_model=Page[VolumeOut], tags=["volumes"], summary="List volumes")
async def list_volumes(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[VolumeStateName] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Attached to this instance")] = None,
    discovered: Annotated[
        bool | None, Query(description="true: only volumes adopted by an inventory sync; false: only Clanavi's own")
    ] = None,
) -> Response:
    return await up.forward("GET", "/v1/volumes", caller=caller, params=query_items(request))


forward_route(
    router, "GET", "/volumes/{volume_id}", VolumeOut, name="get_volume", tag="volumes", responses=problem_responses(404)
)


forward_route(
    router,
    "DELETE",
    "/volumes/{volume_id}",
    VolumeOut,
    name="delete_volume",
    tag="volumes",
    responses=_WRITE,
    summary="Delete an available volume; repeating it is harmless",
)


@router.post(
    "/volumes/{volume_id}/actions/attach",
    response_model=VolumeOut,
    tags=["volumes"],
    summary="Attach to an instance of the same cloud; it goes attaching -> in-use",
    responses=_WRITE,
)
async def attach_volume(volume_id: str, body: VolumeAttach, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, f"/v1/volumes/{quoted(volume_id)}/actions/attach", caller, body)


forward_route(
    router,
    "POST",
    "/volumes/{volume_id}/actions/detach",
    VolumeOut,
    name="detach_volume",
    tag="volumes",
    responses=_WRITE,
    summary="Detach; it goes detaching -> available",
)


# --- snapshots -------------------------------------------------------------------------------------------------


@router.post(
    "/snapshots",
    status_code=201,
    response_model=SnapshotOut,
    tags=["snapshots"],
    summary="Snapshot a volume; it goes pending -> available (make a volume from it with POST /v1/volumes)",
    responses=_WRITE,
)
async def create_snapshot(body: SnapshotCreate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/snapshots", caller, body)


@router.get("/snapshots", response_model=Page[SnapshotOut], tags=["snapshots"], summary="List snapshots")
async def list_snapshots(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[SnapshotStateName] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
    volume_id: Annotated[str | None, Query(description="Snapshots of this volume")] = None,
) -> Response:
    return await up.forward("GET", "/v1/snapshots", caller=caller, params=query_items(request))


forward_route(
    router,
    "GET",
    "/snapshots/{snapshot_id}",
    SnapshotOut,
    name="get_snapshot",
    tag="snapshots",
    responses=problem_responses(404),
)


forward_route(
    router,
    "DELETE",
    "/snapshots/{snapshot_id}",
    SnapshotOut,
    name="delete_snapshot",
    tag="snapshots",
    responses=_WRITE,
    summary="Delete a snapshot; repeating it is harmless",
)


# --- addresses -------------------------------------------------------------------------------------------------


@router.post(
    "/addresses",
    status_code=201,
    response_model=AddressOut,
    tags=["addresses"],
    summary="Allocate a public address (elastic / floating IP)",
    responses=_WRITE,
)
async def allocate_address(body: AddressAllocate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/addresses", caller, body)


@router.get("/addresses", response_model=Page[AddressOut], tags=["addresses"], summary="List addresses")
async def list_addresses(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[AddressStateName] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Associated with this instance")] = None,
) -> Response:
    return await up.forward("GET", "/v1/addresses", caller=caller, params=query_items(request))


forward_route(
    router,
    "GET",
    "/addresses/{address_id}",
    AddressOut,
    name="get_address",
    tag="addresses",
    responses=problem_responses(404),
)


forward_route(
    router,
    "DELETE",
    "/addresses/{address_id}",
    AddressOut,
    name="release_address",
    tag="addresses",
    responses=_WRITE,
    summary="Release an address that is not associated; repeating it is harmless",
)


@router.post(
    "/addresses/{address_id}/actions/associate",
    response_model=AddressOut,
    tags=["addresses"],
    summary="Associate with an instance of the same cloud",
    responses=_WRITE,
)
async def associate_address(address_id: str, body: AddressAssociate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, f"/v1/addresses/{quoted(address_id)}/actions/associate", caller, body)


forward_route(
    router,
    "POST",
    "/addresses/{address_id}/actions/disassociate",
    AddressOut,
    name="disassociate_address",
    tag="addresses",
    responses=_WRITE,
    summary="Disassociate from its instance",
)


# --- images made from instances --------------------------------------------------------------------------------


@router.post(
    "/images",
    status_code=201,
    response_model=CustomImageOut,
    tags=["images"],
    summary="Make an image from an instance; it goes pending -> available (launch it by its provider_id)",
    responses=_WRITE,
)
async def create_image(body: ImageCreate, caller: Operator, up: Provisioner) -> Response:
    return await _post(up, "/v1/images", caller, body)


@router.get(
    "/images/custom",
    response_model=Page[CustomImageOut],
    tags=["images"],
    summary="List the images the project made from instances",
)
async def list_custom_images(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[CustomImageState] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Made from this instance")] = None,
) -> Response:
    return await up.forward("GET", "/v1/images/custom", caller=caller, params=query_items(request))


forward_route(
    router,
    "GET",
    "/images/{image_id}",
    CustomImageOut,
    name="get_image",
    tag="images",
    responses=problem_responses(404),
    summary="An image the project made (by its Clanavi id)",
)


forward_route(
    router,
    "DELETE",
    "/images/{image_id}",
    CustomImageOut,
    name="deregister_image",
    tag="images",
    responses=_WRITE,
    summary="Deregister an image the project made; repeating it is harmless",
)
