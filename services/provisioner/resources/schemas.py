"""The API contract of key pairs, security groups, volumes, snapshots, addresses and images made from instances (the
gateway serves the same models in its OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.provisioner.schemas import NO_NUL_PATTERN, PLAIN_PATTERN, CloudId, Name, RecordId

ResourceAction = Literal[
    "create",
    "import",
    "allocate",
    "delete",
    "release",
    "deregister",
    "attach",
    "detach",
    "associate",
    "disassociate",
    "authorize",
    "revoke",
]


class ResourceOut(BaseModel):
    """What every resource record shows; `id` is Clanavi's, `provider_id` the cloud's."""

    id: str
    project_id: str
    cloud_id: str
    name: str
    provider_id: str | None = Field(description="The resource's id in its cloud, once it exists there")
    state: str
    pending_action: ResourceAction | None = Field(description="An action the cloud has not finished yet")
    reason: str | None = Field(description="Why the last action failed or the resource is in error")
    created_at: datetime
    updated_at: datetime


KeyPairState = Literal["creating", "available", "deleting", "deleted", "error"]


class KeyPairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud_id: CloudId = "sim"
    name: Name


class KeyPairImport(KeyPairCreate):
    public_key: str = Field(
        min_length=16, max_length=16_384, pattern=NO_NUL_PATTERN, description="An OpenSSH public key line"
    )


class KeyPairOut(ResourceOut):
    state: KeyPairState
    fingerprint: str | None


# A key pair the cloud generated, in the answer to its creation (not the event `key_pair.created`).
class NewKeyPairOut(KeyPairOut):
    private_key: str | None = Field(
        description="The private key, in this answer only: the cloud and Clanavi never show it again"
    )


class SecurityRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["ingress", "egress"] = "ingress"
    protocol: Literal["tcp", "udp", "icmp", "all"]
    from_port: int | None = Field(default=None, ge=0, le=65535, description="tcp/udp only")
    to_port: int | None = Field(default=None, ge=0, le=65535, description="tcp/udp only; equal for one port")
    cidr: str = Field(
        min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="IPv4 or IPv6 network, e.g. 0.0.0.0/0"
    )


class SecurityRuleOut(SecurityRuleIn):
    id: str = Field(description="Derived from the rule: the same rule has the same id everywhere")


SecurityGroupState = Literal["creating", "available", "updating", "deleting", "deleted", "error"]


class SecurityGroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud_id: CloudId = "sim"
    name: Name
    description: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f]*$")


class SecurityGroupOut(ResourceOut):
    state: SecurityGroupState
    description: str
    rules: list[SecurityRuleOut]


VolumeStateName = Literal[
    "creating", "available", "attaching", "in-use", "detaching", "deleting", "deleted", "error", "gone"
]


class VolumeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud_id: CloudId = "sim"
    name: Name
    size_gb: int | None = Field(default=None, ge=1, le=16_384, description="Required unless snapshot_id is given")
    zone: str | None = Field(default=None, min_length=1, max_length=64, pattern=PLAIN_PATTERN)
    snapshot_id: RecordId | None = Field(default=None, description="Make the volume from this snapshot (Clanavi id)")


class VolumeAttach(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: RecordId = Field(description="Clanavi id of an instance in the volume's cloud")
    device: str | None = Field(default=None, max_length=32, pattern=r"^/dev/[a-z0-9]+$")


class VolumeOut(ResourceOut):
    state: VolumeStateName
    size_gb: int
    zone: str | None
    instance_id: str | None = Field(description="Clanavi id of the instance it is attached to")
    device: str | None
    snapshot_id: str | None = Field(description="Clanavi id of the snapshot it was made from")
    discovered: bool = Field(default=False, description="Created outside Clanavi and adopted by an inventory sync")


SnapshotStateName = Literal["pending", "available", "deleting", "deleted", "error"]


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volume_id: RecordId = Field(description="Clanavi id of the volume (the snapshot is made in its cloud)")
    name: Name


class SnapshotOut(ResourceOut):
    state: SnapshotStateName
    volume_id: str
    size_gb: int | None


AddressStateName = Literal[
    "allocating", "available", "associating", "associated", "disassociating", "releasing", "released", "error"
]


class AddressAllocate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud_id: CloudId = "sim"
    name: Name | None = Field(default=None, description="A label for Clanavi (addresses have none in the cloud)")


class AddressAssociate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: RecordId = Field(description="Clanavi id of an instance in the address's cloud")


class AddressOut(ResourceOut):
    state: AddressStateName
    ip: str | None
    instance_id: str | None = Field(description="Clanavi id of the instance it is associated with")


CustomImageState = Literal["pending", "available", "deregistering", "deregistered", "error"]


class ImageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: RecordId = Field(description="Clanavi id of the instance to image")
    name: Name
    cloud_id: CloudId | None = Field(default=None, description="The instance's cloud (checked when given)")


class CustomImageOut(ResourceOut):
    """An image made from an instance; `provider_id` is its id in the catalogue (a launch's `image_id`)."""

    state: CustomImageState
    instance_id: str = Field(description="Clanavi id of the instance it was made from")
