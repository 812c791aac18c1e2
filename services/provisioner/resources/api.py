"""The routes of key pairs, security groups, volumes, snapshots, addresses and images made from instances: parse,
call a handler, shape the answer. Reached only through the gateway.

Each kind's routes are declared from a line each (`routing.Routes`), and what each route says of itself is in
`SUMMARIES`. A write answers 201 (created) or 200 (other actions) when the cloud call completed in the request, and
202 when the cloud did not answer and the worker finishes the action (the record shows it pending).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from kernel.authz import Operator
from kernel.http import NO_STORE_HEADERS, problem_responses
from services.provisioner.resources import handlers
from services.provisioner.resources.answers import (
    address_out,
    image_out,
    key_pair_out,
    security_group_out,
    snapshot_out,
    volume_out,
)
from services.provisioner.resources.routing import KindRoutes, ports_of
from services.provisioner.resources.schemas import (
    AddressAllocate,
    AddressAssociate,
    AddressStateName,
    CustomImageState,
    ImageCreate,
    KeyPairCreate,
    KeyPairImport,
    KeyPairState,
    NewKeyPairOut,
    SecurityGroupCreate,
    SecurityGroupState,
    SecurityRuleIn,
    SnapshotCreate,
    SnapshotStateName,
    VolumeAttach,
    VolumeCreate,
    VolumeStateName,
)
from services.provisioner.resources.security_rules import rule_from_dict
from services.provisioner.state import correlation_id

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))

SUMMARIES = {
    "import_key_pair": "Import a key pair from an OpenSSH public key",
    "list_key_pairs": "List key pairs",
    "delete_key_pair": "Delete a key pair; repeating it is harmless",
    "create_security_group": "Create a security group",
    "list_security_groups": "List security groups",
    "delete_security_group": "Delete a security group (409 while instances that are not terminated use it)",
    "authorize_rule": "Authorize a rule (granting one the group has already changes nothing)",
    "revoke_rule": "Revoke a rule, by the id the group lists it with",
    "create_volume": "Create a volume (empty, or from a snapshot); it goes creating -> available",
    "list_volumes": "List volumes",
    "delete_volume": "Delete an available volume; repeating it is harmless",
    "attach_volume": "Attach to an instance of the same cloud; it goes attaching -> in-use",
    "detach_volume": "Detach; it goes detaching -> available",
    "create_snapshot": "Snapshot a volume; it goes pending -> available (make a volume from it with POST /v1/volumes)",
    "list_snapshots": "List snapshots",
    "delete_snapshot": "Delete a snapshot; repeating it is harmless",
    "allocate_address": "Allocate a public address (elastic / floating IP)",
    "list_addresses": "List addresses",
    "release_address": "Release an address that is not associated; repeating it is harmless",
    "associate_address": "Associate with an instance of the same cloud",
    "disassociate_address": "Disassociate from its instance",
    "create_image": "Make an image from an instance; it goes pending -> available (launch it by its provider_id)",
    "list_custom_images": "List the images the project made from instances",
    "get_image": "An image the project made (by its Clanavi id)",
    "deregister_image": "Deregister an image the project made; repeating it is harmless",
}


key_pairs = KindRoutes(router, SUMMARIES, "key_pair", "/key-pairs", "{key_pair_id}", key_pair_out)


@key_pairs.routes.post(
    "/key-pairs",
    NewKeyPairOut,
    "Create a key pair; the answer holds its private key, shown this once",
    status=201,
    problems=(403, 409, 501),
)
async def create_key_pair(request: Request, response: Response, body: KeyPairCreate, caller: Operator) -> NewKeyPairOut:
    outcome = await handlers.create_key_pair(
        ports_of(request), project_id=caller.project_id, correlation_id=correlation_id(), **body.model_dump()
    )
    response.status_code = 201 if outcome.done else 202
    # The answer holds the private key: nothing on the way may keep a copy.
    response.headers.update(NO_STORE_HEADERS)
    return NewKeyPairOut(**key_pair_out(outcome.record).model_dump(), private_key=outcome.private_key)


async def _authorize(ports: handlers.Ports, *, group_id: str, **fields: Any) -> handlers.Outcome:
    project_id, cid = fields.pop("project_id"), fields.pop("correlation_id")
    return await handlers.authorize_rule(
        ports, project_id=project_id, group_id=group_id, rule=rule_from_dict(fields), correlation_id=cid
    )


key_pairs.write("import_key_pair", "POST", "/key-pairs/import", handlers.import_key_pair, KeyPairImport, created=True)
key_pairs.listing("list_key_pairs", KeyPairState)
key_pairs.one("get_key_pair")
key_pairs.plain("delete_key_pair", "DELETE", key_pairs.item, "delete")

groups = KindRoutes(router, SUMMARIES, "security_group", "/security-groups", "{group_id}", security_group_out)
groups.write("create_security_group", "POST", groups.path, handlers.create_security_group, SecurityGroupCreate, True)
groups.listing("list_security_groups", SecurityGroupState)
groups.one("get_security_group")
groups.write("delete_security_group", "DELETE", groups.item, handlers.delete_security_group)
groups.write("authorize_rule", "POST", f"{groups.item}/rules", _authorize, SecurityRuleIn)
groups.write("revoke_rule", "DELETE", f"{groups.item}/rules/{{rule_id}}", handlers.revoke_rule)

volumes = KindRoutes(router, SUMMARIES, "volume", "/volumes", "{volume_id}", volume_out)
volumes.write("create_volume", "POST", volumes.path, handlers.create_volume, VolumeCreate, created=True)
volumes.listing(
    "list_volumes",
    VolumeStateName,
    instance_id=(str, "Attached to this instance"),
    discovered=(bool, "true: only volumes adopted by an inventory sync; false: only Clanavi's own"),
)
volumes.one("get_volume")
volumes.plain("delete_volume", "DELETE", volumes.item, "delete")
volumes.write("attach_volume", "POST", f"{volumes.item}/actions/attach", handlers.attach_volume, VolumeAttach)
volumes.plain("detach_volume", "POST", f"{volumes.item}/actions/detach", "detach")

snapshots = KindRoutes(router, SUMMARIES, "snapshot", "/snapshots", "{snapshot_id}", snapshot_out)
snapshots.write("create_snapshot", "POST", snapshots.path, handlers.create_snapshot, SnapshotCreate, created=True)
snapshots.listing("list_snapshots", SnapshotStateName, volume_id=(str, "Snapshots of this volume"))
snapshots.one("get_snapshot")
snapshots.plain("delete_snapshot", "DELETE", snapshots.item, "delete")

addresses = KindRoutes(router, SUMMARIES, "address", "/addresses", "{address_id}", address_out)
addresses.write("allocate_address", "POST", addresses.path, handlers.allocate_address, AddressAllocate, created=True)
addresses.listing("list_addresses", AddressStateName, instance_id=(str, "Associated with this instance"))
addresses.one("get_address")
addresses.plain("release_address", "DELETE", addresses.item, "release")
addresses.write(
    "associate_address", "POST", f"{addresses.item}/actions/associate", handlers.associate_address, AddressAssociate
)
addresses.plain("disassociate_address", "POST", f"{addresses.item}/actions/disassociate", "disassociate")

images = KindRoutes(router, SUMMARIES, "image", "/images", "{image_id}", image_out)
images.write("create_image", "POST", images.path, handlers.create_image, ImageCreate, created=True)
images.listing("list_custom_images", CustomImageState, "/images/custom", instance_id=(str, "Made from this instance"))
images.one("get_image")
images.plain("deregister_image", "DELETE", images.item, "deregister")

__all__ = ["router"]
