"""The provisioner's routes for key pairs, security groups, volumes, snapshots, addresses and images made from
instances: parse, call a handler, shape the answer. Reached only through the gateway.

A write answers 201 (created) or 200 (other actions) when the cloud call completed in the request, and 202 when the
cloud did not answer and the worker finishes the action (the record shows it pending).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response

from kernel import correlation
from kernel.authz import Operator, Reader
from kernel.http import problem_responses
from kernel.keyset import PageRequest
from services.provisioner import resources_handlers as handlers
from services.provisioner import resources_repository as store
from services.provisioner.api import clouds_of, pool_of
from services.provisioner.listing import RecordPaging
from services.provisioner.resources import Kind, ResourceRecord, rule_from_dict
from services.provisioner.resources_handlers import Outcome
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
    SecurityRuleOut,
    SnapshotCreate,
    SnapshotOut,
    SnapshotStateName,
    VolumeAttach,
    VolumeCreate,
    VolumeOut,
    VolumeStateName,
)

Out = TypeVar("Out")

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))

# What every write may answer besides its success.
_WRITE: dict[int | str, dict[str, Any]] = {
    **problem_responses(403, 404, 409, 501),
    202: {"description": "The cloud did not answer; Clanavi finishes the action in the background"},
}
_SEVERAL = "Repeat to match several"


def _cid() -> str:
    return correlation.current.get() or ""


def _common(record: ResourceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project_id": record.project_id,
        "cloud_id": record.cloud_id,
        "name": record.name,
        "provider_id": record.provider_id,
        "state": record.state,
        "pending_action": record.pending_action,
        "reason": record.reason,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def key_pair_out(record: ResourceRecord) -> KeyPairOut:
    return KeyPairOut(**_common(record), fingerprint=record.attrs.get("fingerprint"))


def security_group_out(record: ResourceRecord) -> SecurityGroupOut:
    rules = [
        SecurityRuleOut(id=r["id"], **{k: v for k, v in r.items() if k != "id"}) for r in record.attrs.get("rules", [])
    ]
    return SecurityGroupOut(**_common(record), description=record.attrs.get("description", ""), rules=rules)


def volume_out(record: ResourceRecord) -> VolumeOut:
    a = record.attrs
    return VolumeOut(
        **_common(record),
        size_gb=a.get("size_gb") or 0,
        zone=a.get("zone"),
        instance_id=a.get("instance_id") if record.state in ("attaching", "in-use", "detaching") else None,
        device=a.get("device") if record.state == "in-use" else None,
        snapshot_id=a.get("snapshot_id"),
        discovered=record.discovered,
    )


def snapshot_out(record: ResourceRecord) -> SnapshotOut:
    return SnapshotOut(**_common(record), volume_id=record.attrs["volume_id"], size_gb=record.attrs.get("size_gb"))


def address_out(record: ResourceRecord) -> AddressOut:
    associated = record.state in ("associating", "associated", "disassociating")
    return AddressOut(
        **_common(record),
        ip=record.attrs.get("ip"),
        instance_id=record.attrs.get("instance_id") if associated else None,
    )


def image_out(record: ResourceRecord) -> CustomImageOut:
    return CustomImageOut(**_common(record), instance_id=record.attrs["instance_id"])


def _answer(response: Response, outcome: Outcome, shape: Callable[[ResourceRecord], Out], *, created: bool) -> Out:
    response.status_code = (201 if created else 200) if outcome.done else 202
    return shape(outcome.record)


async def _page(
    request: Request,
    shape: Callable[[ResourceRecord], Out],
    flt: store.ResourceFilter,
    paging: PageRequest,
) -> Page[Any]:
    records, next_cursor = await store.page(pool_of(request), flt, paging)
    return Page[Any](items=[shape(r) for r in records], next_cursor=next_cursor)


async def _one(request: Request, project: str, kind: Kind, resource_id: str) -> ResourceRecord:
    return await handlers.get(pool_of(request), project, kind, resource_id)


async def _act(request: Request, project: str, kind: Kind, resource_id: str, action: str) -> Outcome:
    return await handlers.act(
        pool_of(request),
        clouds_of(request),
        project_id=project,
        kind=kind,
        resource_id=resource_id,
        action=action,
        correlation_id=_cid(),
    )


def _path_id(path: str) -> str:
    """The name of the (first) path parameter in `path`: "/volumes/{volume_id}/actions/detach" -> "volume_id"."""
    return path.split("{", 1)[1].split("}", 1)[0]


def _get_route(
    path: str,
    kind: Kind,
    shape: Callable[[ResourceRecord], Any],
    model: type,
    *,
    name: str,
    tag: str,
    summary: str | None = None,
) -> None:
    """GET one record of `kind`, by the id in `path`."""

    async def get_one(request: Request, caller: Reader, resource_id: str = Path(alias=_path_id(path))) -> Any:
        return shape(await _one(request, caller.project_id, kind, resource_id))

    router.add_api_route(
        path,
        get_one,
        methods=["GET"],
        response_model=model,
        name=name,
        tags=[tag],
        summary=summary,
        responses=problem_responses(404),
    )


def _action_route(
    method: str,
    path: str,
    kind: Kind,
    action: str,
    shape: Callable[[ResourceRecord], Any],
    model: type,
    *,
    name: str,
    tag: str,
    summary: str,
) -> None:
    """Carry out an `action` without parameters on the record of `kind` named by the id in `path`."""

    async def act(
        request: Request, response: Response, caller: Operator, resource_id: str = Path(alias=_path_id(path))
    ) -> Any:
        outcome = await _act(request, caller.project_id, kind, resource_id, action)
        return _answer(response, outcome, shape, created=False)

    router.add_api_route(
        path, act, methods=[method], response_model=model, name=name, tags=[tag], summary=summary, responses=_WRITE
    )


# --- key pairs -------------------------------------------------------------------------------------------------


@router.post(
    "/key-pairs",
    status_code=201,
    response_model=KeyPairCreated,
    tags=["key pairs"],
    summary="Create a key pair; the answer holds its private key, shown this once",
    responses=problem_responses(403, 409, 501),
)
async def create_key_pair(
    request: Request, response: Response, body: KeyPairCreate, caller: Operator
) -> KeyPairCreated:
    outcome = await handlers.create_key_pair(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        correlation_id=_cid(),
    )
    response.status_code = 201 if outcome.done else 202
    return KeyPairCreated(**key_pair_out(outcome.record).model_dump(), private_key=outcome.private_key)


@router.post(
    "/key-pairs/import",
    status_code=201,
    response_model=KeyPairOut,
    tags=["key pairs"],
    summary="Import a key pair from an OpenSSH public key",
    responses=_WRITE,
)
async def import_key_pair(request: Request, response: Response, body: KeyPairImport, caller: Operator) -> KeyPairOut:
    outcome = await handlers.import_key_pair(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        public_key=body.public_key,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, key_pair_out, created=True)


@router.get("/key-pairs", response_model=Page[KeyPairOut], tags=["key pairs"], summary="List key pairs")
async def list_key_pairs(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[KeyPairState] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
) -> Page[KeyPairOut]:
    flt = store.ResourceFilter(caller.project_id, "key_pair", cloud_id=cloud_id, states=state or (), name=name)
    return await _page(request, key_pair_out, flt, paging)


_get_route("/key-pairs/{key_pair_id}", "key_pair", key_pair_out, KeyPairOut, name="get_key_pair", tag="key pairs")


_action_route(
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


# --- security groups -------------------------------------------------------------------------------------------


@router.post(
    "/security-groups",
    status_code=201,
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Create a security group",
    responses=_WRITE,
)
async def create_security_group(
    request: Request, response: Response, body: SecurityGroupCreate, caller: Operator
) -> SecurityGroupOut:
    outcome = await handlers.create_security_group(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        description=body.description,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, security_group_out, created=True)


@router.get(
    "/security-groups", response_model=Page[SecurityGroupOut], tags=["security groups"], summary="List security groups"
)
async def list_security_groups(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[SecurityGroupState] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
) -> Page[SecurityGroupOut]:
    flt = store.ResourceFilter(caller.project_id, "security_group", cloud_id=cloud_id, states=state or (), name=name)
    return await _page(request, security_group_out, flt, paging)


_get_route(
    "/security-groups/{group_id}",
    "security_group",
    security_group_out,
    SecurityGroupOut,
    name="get_security_group",
    tag="security groups",
)


@router.delete(
    "/security-groups/{group_id}",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Delete a security group (409 while instances that are not terminated use it)",
    responses=_WRITE,
)
async def delete_security_group(
    request: Request, response: Response, group_id: str, caller: Operator
) -> SecurityGroupOut:
    outcome = await handlers.delete_security_group(
        pool_of(request), clouds_of(request), project_id=caller.project_id, group_id=group_id, correlation_id=_cid()
    )
    return _answer(response, outcome, security_group_out, created=False)


@router.post(
    "/security-groups/{group_id}/rules",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Authorize a rule (granting one the group has already changes nothing)",
    responses=_WRITE,
)
async def authorize_rule(
    request: Request, response: Response, group_id: str, body: SecurityRuleIn, caller: Operator
) -> SecurityGroupOut:
    rule = rule_from_dict(body.model_dump())
    outcome = await handlers.authorize_rule(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        group_id=group_id,
        rule=rule,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, security_group_out, created=False)


@router.delete(
    "/security-groups/{group_id}/rules/{rule_id}",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Revoke a rule, by the id the group lists it with",
    responses=_WRITE,
)
async def revoke_rule(
    request: Request, response: Response, group_id: str, rule_id: str, caller: Operator
) -> SecurityGroupOut:
    outcome = await handlers.revoke_rule(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        group_id=group_id,
        rule_id=rule_id,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, security_group_out, created=False)


# --- volumes ---------------------------------------------------------------------------------------------------


@router.post(
    "/volumes",
    status_code=201,
    response_model=VolumeOut,
    tags=["volumes"],
    summary="Create a volume (empty, or from a snapshot); it goes creating -> available",
    responses=_WRITE,
)
async def create_volume(request: Request, response: Response, body: VolumeCreate, caller: Operator) -> VolumeOut:
    outcome = await handlers.create_volume(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        size_gb=body.size_gb,
        zone=body.zone,
        snapshot_id=body.snapshot_id,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, volume_out, created=True)


@router.get("/volumes", response_model=Page[VolumeOut], tags=["volumes"], summary="List volumes")
async def list_volumes(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[VolumeStateName] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Attached to this instance")] = None,
    discovered: Annotated[
        bool | None, Query(description="true: only volumes adopted by an inventory sync; false: only Clanavi's own")
    ] = None,
) -> Page[VolumeOut]:
    flt = store.ResourceFilter(
        caller.project_id,
        "volume",
        cloud_id=cloud_id,
        states=state or (),
        name=name,
        instance_id=instance_id,
        discovered=discovered,
    )
    return await _page(request, volume_out, flt, paging)


_get_route("/volumes/{volume_id}", "volume", volume_out, VolumeOut, name="get_volume", tag="volumes")


_action_route(
    "DELETE",
    "/volumes/{volume_id}",
    "volume",
    "delete",
    volume_out,
    VolumeOut,
    name="delete_volume",
    tag="volumes",
    summary="Delete an available volume; repeating it is harmless",
)


@router.post(
    "/volumes/{volume_id}/actions/attach",
    response_model=VolumeOut,
    tags=["volumes"],
    summary="Attach to an instance of the same cloud; it goes attaching -> in-use",
    responses=_WRITE,
)
async def attach_volume(
    request: Request, response: Response, volume_id: str, body: VolumeAttach, caller: Operator
) -> VolumeOut:
    outcome = await handlers.attach_volume(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        volume_id=volume_id,
        instance_id=body.instance_id,
        device=body.device,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, volume_out, created=False)


_action_route(
    "POST",
    "/volumes/{volume_id}/actions/detach",
    "volume",
    "detach",
    volume_out,
    VolumeOut,
    name="detach_volume",
    tag="volumes",
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
async def create_snapshot(request: Request, response: Response, body: SnapshotCreate, caller: Operator) -> SnapshotOut:
    outcome = await handlers.create_snapshot(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        volume_id=body.volume_id,
        name=body.name,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, snapshot_out, created=True)


@router.get("/snapshots", response_model=Page[SnapshotOut], tags=["snapshots"], summary="List snapshots")
async def list_snapshots(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[SnapshotStateName] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
    volume_id: Annotated[str | None, Query(description="Snapshots of this volume")] = None,
) -> Page[SnapshotOut]:
    flt = store.ResourceFilter(
        caller.project_id, "snapshot", cloud_id=cloud_id, states=state or (), name=name, volume_id=volume_id
    )
    return await _page(request, snapshot_out, flt, paging)


_get_route("/snapshots/{snapshot_id}", "snapshot", snapshot_out, SnapshotOut, name="get_snapshot", tag="snapshots")


_action_route(
    "DELETE",
    "/snapshots/{snapshot_id}",
    "snapshot",
    "delete",
    snapshot_out,
    SnapshotOut,
    name="delete_snapshot",
    tag="snapshots",
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
async def allocate_address(request: Request, response: Response, body: AddressAllocate, caller: Operator) -> AddressOut:
    outcome = await handlers.allocate_address(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, address_out, created=True)


@router.get("/addresses", response_model=Page[AddressOut], tags=["addresses"], summary="List addresses")
async def list_addresses(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[AddressStateName] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Associated with this instance")] = None,
) -> Page[AddressOut]:
    flt = store.ResourceFilter(
        caller.project_id, "address", cloud_id=cloud_id, states=state or (), name=name, instance_id=instance_id
    )
    return await _page(request, address_out, flt, paging)


_get_route("/addresses/{address_id}", "address", address_out, AddressOut, name="get_address", tag="addresses")


_action_route(
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
    responses=_WRITE,
)
async def associate_address(
    request: Request, response: Response, address_id: str, body: AddressAssociate, caller: Operator
) -> AddressOut:
    outcome = await handlers.associate_address(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        address_id=address_id,
        instance_id=body.instance_id,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, address_out, created=False)


_action_route(
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


# --- images made from instances --------------------------------------------------------------------------------


@router.post(
    "/images",
    status_code=201,
    response_model=CustomImageOut,
    tags=["images"],
    summary="Make an image from an instance; it goes pending -> available (launch it by its provider_id)",
    responses=_WRITE,
)
async def create_image(request: Request, response: Response, body: ImageCreate, caller: Operator) -> CustomImageOut:
    outcome = await handlers.create_image(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        instance_id=body.instance_id,
        name=body.name,
        correlation_id=_cid(),
    )
    return _answer(response, outcome, image_out, created=True)


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
    state: Annotated[list[CustomImageState] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Made from this instance")] = None,
) -> Page[CustomImageOut]:
    flt = store.ResourceFilter(
        caller.project_id, "image", cloud_id=cloud_id, states=state or (), name=name, instance_id=instance_id
    )
    return await _page(request, image_out, flt, paging)


_get_route(
    "/images/{image_id}",
    "image",
    image_out,
    CustomImageOut,
    name="get_image",
    tag="images",
    summary="An image the project made (by its Clanavi id)",
)


_action_route(
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
