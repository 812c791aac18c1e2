"""The provisioner's API contract (the gateway serves the same models in its OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

InstanceStateName = Literal[
    "requested",
    "pending",
    "running",
    "stopping",
    "stopped",
    "starting",
    "rebooting",
    "suspending",
    "suspended",
    "resuming",
    "terminating",
    "terminated",
    "error",
    "gone",
]

# Most bytes of user data (a boot script) a launch may carry, as UTF-8.
MAX_USER_DATA_BYTES = 16 * 1024

NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"
Name = Annotated[
    str, Field(min_length=1, max_length=63, pattern=NAME_PATTERN, description="Letters, digits, '.', '_', '-'")
]
# What an id or a cloud's name of something may hold: no control characters (PostgreSQL text cannot hold NUL at all).
PLAIN_PATTERN = r"^[^\x00-\x1f]+$"
# Free text (scripts, keys) keeps its tabs and newlines but not NUL.
NO_NUL_PATTERN = r"^[^\x00]*$"
CloudId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="Cloud account; default SimCloud")
]
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="A Clanavi id")]


def _not_reserved(key: str) -> str:
    if key.startswith("clanavi:"):
        raise ValueError("tag keys starting with `clanavi:` are reserved")
    return key


TagKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$"), AfterValidator(_not_reserved)]
TagValue = Annotated[str, Field(max_length=256, pattern=r"^[^\x00-\x1f]*$")]


def _user_data_size(value: str | None) -> str | None:
    if value is not None and len(value.encode()) > MAX_USER_DATA_BYTES:
        raise ValueError(f"user data is limited to {MAX_USER_DATA_BYTES} bytes (UTF-8)")
    return value


class CloudOut(BaseModel):
    id: str
    project_id: str
    name: str
    driver: str
    enabled: bool
    # Whether the account's adapter module (`driver`) is enabled: when it is not, every call to the cloud answers
    # 409 `module_disabled` and the account's pending work waits.
    module_enabled: bool = True
    features: list[str]
    config: dict[str, Any] = Field(description="The adapter's settings; never a secret")
    credential_fields: list[str] = Field(description="Names of the secret fields set (values are never shown)")
    credentials_readable: bool = Field(
        description="False when no key the provisioner holds opens the credentials: the account answers 409 "
        "`cloud_credentials_unreadable` until they are set again"
    )
    source: Literal["api", "configuration"] = Field(
        description="`configuration`: from CLANAVI_PROVISIONER_CLOUDS (or the built-in `sim`), changed only there"
    )
    created_at: datetime
    updated_at: datetime


CloudName = Annotated[str, Field(min_length=1, max_length=200, pattern=PLAIN_PATTERN)]
Credentials = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(min_length=1, max_length=8192)]],
    Field(
        max_length=32,
        description="The adapter's secret fields (ec2: `access_key_id`, `secret_access_key`, `session_token`; "
        "openstack and xcp: `password`; any URL field that carries a password). Stored encrypted, never shown.",
    ),
]


class CloudCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CloudName = Field(description="Unique in the project")
    driver: str = Field(min_length=1, max_length=100, description="An adapter module (see GET /v1/modules)")
    config: dict[str, Any] = Field(default_factory=dict, description="The adapter's settings, without secrets")
    credentials: Credentials = Field(default_factory=dict)
    enabled: bool = True


class CloudUpdate(BaseModel):
    """Fields left out stay as they are; `config` and `credentials` replace the whole object they name."""

    model_config = ConfigDict(extra="forbid")

    name: CloudName | None = None
    config: dict[str, Any] | None = None
    credentials: Credentials | None = None
    enabled: bool | None = None


class ModuleOut(BaseModel):
    """An adapter module: built in, or a plugin from an installed distribution (`clanavi.adapters` entry point)."""

    name: str
    # "missing": named by a cloud account or by a recorded state, but not installed here.
    source: Literal["builtin", "plugin", "missing"]
    distribution: str | None = None
    version: str | None = None
    enabled: bool
    # Whether its module imports in the provisioner; `reason` says why not.
    available: bool
    reason: str | None = None
    features: list[str]
    cloud_ids: list[str]


class ModuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class ImageOut(BaseModel):
    """An image of a cloud's catalogue; `id` is the cloud's (what a launch's `image_id` takes)."""

    id: str
    cloud_id: str
    name: str
    os: str
    min_disk_gb: int
    state: Literal["pending", "available", "failed", "deregistered"] = "available"


class RegionOut(BaseModel):
    id: str
    cloud_id: str
    name: str


class ZoneOut(BaseModel):
    id: str
    cloud_id: str
    region_id: str
    available: bool


class FlavorOut(BaseModel):
    id: str
    cloud_id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        description="Host-name-like: letters, digits, '.', '_', '-'",
    )
    cloud_id: CloudId = "sim"
    image_id: str = Field(
        min_length=1, max_length=255, pattern=PLAIN_PATTERN, description="The cloud's image id (see GET /v1/images)"
    )
    flavor_id: str = Field(min_length=1, max_length=255, pattern=PLAIN_PATTERN)
    key_name: Name | None = Field(default=None, description="The name of one of the project's key pairs there")
    security_group_ids: list[RecordId] = Field(
        default_factory=list, max_length=16, description="Clanavi ids of the project's security groups there"
    )
    user_data: Annotated[str | None, AfterValidator(_user_data_size)] = Field(
        default=None,
        pattern=NO_NUL_PATTERN,
        description=f"A boot script (cloud-init user data), at most {MAX_USER_DATA_BYTES} bytes",
    )
    zone: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="See GET /v1/clouds/{id}/zones"
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=40, description="Up to 40; keys starting `clanavi:` are reserved"
    )


class InstanceOut(BaseModel):
    id: str
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    provider_id: str | None = Field(description="The instance's id in its cloud, once created there")
    state: InstanceStateName
    pending_action: Literal["launch", "start", "stop", "reboot", "suspend", "resume", "terminate"] | None
    reason: str | None = Field(description="Why the last action failed or the instance is in error")
    private_ips: list[str]
    key_name: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    zone: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    discovered: bool = Field(default=False, description="Created outside Clanavi and adopted by an inventory sync")
    created_at: datetime
    updated_at: datetime


class MetricSampleOut(BaseModel):
    name: str = Field(description="cpu_utilization (percent), network_in_bytes, network_out_bytes, disk_*_bytes")
    timestamp: datetime
    value: float
    unit: str


class MetricsOut(BaseModel):
    instance_id: str
    since: datetime
    items: list[MetricSampleOut]


# --- other resources --------------------------------------------------------------------------------------------

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


class KeyPairCreated(KeyPairOut):
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


class SyncRunOut(BaseModel):
    """One reconciliation of a cloud account with what its cloud has."""

    id: str
    cloud_id: str
    project_id: str
    trigger: Literal["scheduled", "manual"]
    status: Literal["running", "succeeded", "failed"]
    started_at: datetime
    finished_at: datetime | None
    adopted: int = Field(description="Resources found in the cloud and adopted (`discovered`)")
    drifted: int = Field(description="Records whose state was corrected to the cloud's")
    vanished: int = Field(description="Records of resources no longer in the cloud, now `gone`")
    unchanged: int
    listed: int = Field(description="Resources the cloud listed")
    list_calls: int = Field(description="Calls made to list them (pages)")
    volumes_adopted: int = Field(default=0, description="Volumes found in the cloud and adopted (`discovered`)")
    volumes_drifted: int = Field(default=0, description="Volume records whose state was corrected to the cloud's")
    volumes_vanished: int = Field(default=0, description="Volume records no longer in the cloud, now `gone`")
    volumes_unchanged: int = 0
    volumes_listed: int = Field(default=0, description="Volumes the cloud listed")
    error: str | None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class ListOf(BaseModel, Generic[T]):
    items: list[T]
