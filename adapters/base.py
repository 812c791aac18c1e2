"""The one contract every cloud adapter implements, its value objects, and its errors.

Values are frozen dataclasses; provider-specific data rides in `extra`. Each adapter maps its native states onto
the normalised enums here in one table, and declares the operations it supports in `features`. `AdapterBase`
answers every operation with `UnsupportedOperation`, so an adapter overrides exactly what it can do and nothing
is ever a silent no-op.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class InstanceState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    REBOOTING = "rebooting"
    SUSPENDED = "suspended"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    ERROR = "error"
    UNKNOWN = "unknown"

    @property
    def is_transitional(self) -> bool:
        return self in _TRANSITIONAL


_TRANSITIONAL = frozenset(
    {
        InstanceState.PENDING,
        InstanceState.STOPPING,
        InstanceState.STARTING,
        InstanceState.REBOOTING,
        InstanceState.TERMINATING,
    }
)


class VolumeState(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    ATTACHING = "attaching"
    IN_USE = "in-use"
    DETACHING = "detaching"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"


class SnapshotState(enum.StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"


class ImageState(enum.StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    FAILED = "failed"
    DEREGISTERED = "deregistered"


class Feature(enum.StrEnum):
    """What an adapter can do; each names the operations it unlocks (see `FEATURE_OPERATIONS`)."""

    ZONES = "zones"
    FLAVORS = "flavors"
    IMAGES = "images"
    IMAGE_CREATE = "image_create"
    INSTANCES = "instances"
    IDEMPOTENT_LAUNCH = "idempotent_launch"
    USER_DATA = "user_data"
    INSTANCE_START_STOP = "instance_start_stop"
    INSTANCE_REBOOT = "instance_reboot"
    INSTANCE_SUSPEND = "instance_suspend"
    CONSOLE_OUTPUT = "console_output"
    KEY_PAIRS = "key_pairs"
    KEY_PAIR_IMPORT = "key_pair_import"
    SECURITY_GROUPS = "security_groups"
    VOLUMES = "volumes"
    VOLUME_ATTACH = "volume_attach"
    SNAPSHOTS = "snapshots"
    VOLUME_FROM_SNAPSHOT = "volume_from_snapshot"
    ADDRESSES = "addresses"
    METRICS = "metrics"


# feature -> the adapter methods it promises (the conformance suite checks both directions).
FEATURE_OPERATIONS: dict[Feature, tuple[str, ...]] = {
    Feature.ZONES: ("list_regions", "list_zones"),
    Feature.FLAVORS: ("list_flavors", "get_flavor"),
    Feature.IMAGES: ("list_images", "get_image"),
    Feature.IMAGE_CREATE: ("create_image", "deregister_image"),
    Feature.INSTANCES: ("list_instances", "get_instances", "launch_instance", "terminate_instance"),
    Feature.IDEMPOTENT_LAUNCH: (),
    Feature.USER_DATA: (),
    Feature.INSTANCE_START_STOP: ("start_instance", "stop_instance"),
    Feature.INSTANCE_REBOOT: ("reboot_instance",),
    Feature.INSTANCE_SUSPEND: ("suspend_instance", "resume_instance"),
    Feature.CONSOLE_OUTPUT: ("console_output",),
    Feature.KEY_PAIRS: ("list_key_pairs", "create_key_pair", "delete_key_pair"),
    Feature.KEY_PAIR_IMPORT: ("import_key_pair",),
    Feature.SECURITY_GROUPS: (
        "list_security_groups",
        "create_security_group",
        "delete_security_group",
        "authorize_security_rule",
        "revoke_security_rule",
    ),
    Feature.VOLUMES: ("list_volumes", "create_volume", "delete_volume"),
    Feature.VOLUME_ATTACH: ("attach_volume", "detach_volume"),
    Feature.SNAPSHOTS: ("list_snapshots", "create_snapshot", "delete_snapshot"),
    Feature.VOLUME_FROM_SNAPSHOT: (),
    Feature.ADDRESSES: (
        "list_addresses",
        "allocate_address",
        "associate_address",
        "disassociate_address",
        "release_address",
    ),
    Feature.METRICS: ("get_metrics",),
}


# --- values --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    # Opaque, adapter-specific; None on the last page.
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Region:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    region_id: str
    available: bool = True


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    name: str
    os: str
    state: ImageState = ImageState.AVAILABLE
    min_disk_gb: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    name: str
    state: InstanceState
    image_id: str
    flavor_id: str
    created_at: datetime
    private_ips: tuple[str, ...] = ()
    # Public addresses, elastic/floating ones included, on every cloud alike.
    public_ips: tuple[str, ...] = ()
    zone: str | None = None
    key_name: str | None = None
    security_group_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    # Why the instance is in `error`, in words a user can act on.
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    name: str
    image_id: str
    flavor_id: str
    # The same token always yields the same instance: a launch retried after a crash creates nothing twice.
    client_token: str
    key_name: str | None = None
    security_group_ids: tuple[str, ...] = ()
    # A boot script (cloud-init user data), passed to the instance as is.
    user_data: str | None = None
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeyPair:
    name: str
    fingerprint: str
    # Only in the answer to `create_key_pair`: the cloud never shows it again.
    private_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


Protocol_ = Literal["tcp", "udp", "icmp", "all"]


@dataclass(frozen=True, slots=True)
class SecurityRule:
    direction: Literal["ingress", "egress"]
    protocol: Protocol_
    # None with protocol "all" or "icmp"; equal for one port.
    from_port: int | None
    to_port: int | None
    cidr: str


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    id: str
    name: str
    description: str
    rules: tuple[SecurityRule, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    name: str
    size_gb: int
    zone: str | None = None
    snapshot_id: str | None = None


@dataclass(frozen=True, slots=True)
class Volume:
    id: str
    name: str
    size_gb: int
    state: VolumeState
    created_at: datetime
    zone: str | None = None
    instance_id: str | None = None
    device: str | None = None
    snapshot_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    volume_id: str
    size_gb: int
    state: SnapshotState
    created_at: datetime
    name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Address:
    id: str
    ip: str
    instance_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricSample:
    # "cpu_utilization" (percent), "network_in_bytes", "network_out_bytes", "disk_read_bytes", "disk_write_bytes"
    name: str
    timestamp: datetime
    value: float
    unit: str


# --- errors --------------------------------------------------------------------------------------------------


class CloudError(Exception):
    """Base of the errors adapters raise; `retryable` says whether trying again later may succeed."""

    retryable: ClassVar[bool] = False


class CloudAuthError(CloudError):
    pass


class CloudNotFound(CloudError):
    pass


class CloudUnavailable(CloudError):
    retryable = True


class QuotaExceeded(CloudError):
    pass


class Throttled(CloudError):
    retryable = True


class InvalidCloudState(CloudError):
    """The cloud refused the operation in the resource's current state."""


class InvalidCloudRequest(CloudError):
    """The cloud refused the request as malformed (a duplicate name, a bad CIDR, a size out of range)."""


class UnsupportedOperation(CloudError):
    def __init__(self, driver: str, operation: str) -> None:
        super().__init__(f"the {driver} adapter does not support {operation}")
        self.driver = driver
        self.operation = operation


# --- the contract --------------------------------------------------------------------------------------------


@runtime_checkable
class CloudAdapter(Protocol):
    """One cloud account, reached through its provider's API."""

    driver: ClassVar[str]
    features: ClassVar[frozenset[Feature]]

    async def close(self) -> None: ...

    # regions and zones
    async def list_regions(self) -> Sequence[Region]: ...
    async def list_zones(self) -> Sequence[Zone]: ...

    # flavors and images
    async def list_flavors(self) -> Sequence[Flavor]: ...
    async def get_flavor(self, flavor_id: str) -> Flavor: ...
    async def list_images(self) -> Sequence[Image]: ...
    async def get_image(self, image_id: str) -> Image: ...
    async def create_image(self, instance_id: str, name: str) -> Image: ...
    async def deregister_image(self, image_id: str) -> None: ...

    # instances
    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]: ...
    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        """The instances that still exist among `instance_ids`, in one call; missing ones are left out."""
        ...

    async def launch_instance(self, spec: LaunchSpec) -> Instance: ...
    async def start_instance(self, instance_id: str) -> Instance: ...
    async def stop_instance(self, instance_id: str) -> Instance: ...
    async def reboot_instance(self, instance_id: str) -> Instance: ...
    async def suspend_instance(self, instance_id: str) -> Instance: ...
    async def resume_instance(self, instance_id: str) -> Instance: ...
    async def terminate_instance(self, instance_id: str) -> Instance: ...
    async def console_output(self, instance_id: str) -> str: ...

    # key pairs
    async def list_key_pairs(self) -> Sequence[KeyPair]: ...
    async def create_key_pair(self, name: str) -> KeyPair: ...
    async def import_key_pair(self, name: str, public_key: str) -> KeyPair: ...
    async def delete_key_pair(self, name: str) -> None: ...

    # security groups
    async def list_security_groups(self) -> Sequence[SecurityGroup]: ...
    async def create_security_group(self, name: str, description: str) -> SecurityGroup: ...
    async def delete_security_group(self, group_id: str) -> None: ...
    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup: ...
    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup: ...

    # volumes and snapshots
    async def list_volumes(self) -> Sequence[Volume]: ...
    async def create_volume(self, spec: VolumeSpec) -> Volume: ...
    async def delete_volume(self, volume_id: str) -> None: ...
    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume: ...
    async def detach_volume(self, volume_id: str) -> Volume: ...
    async def list_snapshots(self) -> Sequence[Snapshot]: ...
    async def create_snapshot(self, volume_id: str, name: str) -> Snapshot: ...
    async def delete_snapshot(self, snapshot_id: str) -> None: ...

    # addresses
    async def list_addresses(self) -> Sequence[Address]: ...
    async def allocate_address(self) -> Address: ...
    async def associate_address(self, address_id: str, instance_id: str) -> Address: ...
    async def disassociate_address(self, address_id: str) -> Address: ...
    async def release_address(self, address_id: str) -> None: ...

    # metrics
    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]: ...


class AdapterBase:
    """Every operation of the contract, refused with `UnsupportedOperation`; adapters override what they support."""

    driver: ClassVar[str] = "base"
    features: ClassVar[frozenset[Feature]] = frozenset()

    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(self.driver, operation)

    async def close(self) -> None:
        return None

    async def list_regions(self) -> Sequence[Region]:
        raise self._unsupported("list_regions")

    async def list_zones(self) -> Sequence[Zone]:
        raise self._unsupported("list_zones")

    async def list_flavors(self) -> Sequence[Flavor]:
        raise self._unsupported("list_flavors")

    async def get_flavor(self, flavor_id: str) -> Flavor:
        raise self._unsupported("get_flavor")

    async def list_images(self) -> Sequence[Image]:
        raise self._unsupported("list_images")

    async def get_image(self, image_id: str) -> Image:
        raise self._unsupported("get_image")

    async def create_image(self, instance_id: str, name: str) -> Image:
        raise self._unsupported("create_image")

    async def deregister_image(self, image_id: str) -> None:
        raise self._unsupported("deregister_image")

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        raise self._unsupported("list_instances")

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        raise self._unsupported("get_instances")

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        raise self._unsupported("launch_instance")

    async def start_instance(self, instance_id: str) -> Instance:
        raise self._unsupported("start_instance")

    async def stop_instance(self, instance_id: str) -> Instance:
        raise self._unsupported("stop_instance")

    async def reboot_instance(self, instance_id: str) -> Instance:
        raise self._unsupported("reboot_instance")

    async def suspend_instance(self, instance_id: str) -> Instance:
        raise self._unsupported("suspend_instance")

    async def resume_instance(self, instance_id: str) -> Instance:
        raise self._unsupported("resume_instance")

    async def terminate_instance(self, instance_id: str) -> Instance:
        raise self._unsupported("terminate_instance")

    async def console_output(self, instance_id: str) -> str:
        raise self._unsupported("console_output")

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        raise self._unsupported("list_key_pairs")

    async def create_key_pair(self, name: str) -> KeyPair:
        raise self._unsupported("create_key_pair")

    async def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        raise self._unsupported("import_key_pair")

    async def delete_key_pair(self, name: str) -> None:
        raise self._unsupported("delete_key_pair")

    async def list_security_groups(self) -> Sequence[SecurityGroup]:
        raise self._unsupported("list_security_groups")

    async def create_security_group(self, name: str, description: str) -> SecurityGroup:
        raise self._unsupported("create_security_group")

    async def delete_security_group(self, group_id: str) -> None:
        raise self._unsupported("delete_security_group")

    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        raise self._unsupported("authorize_security_rule")

    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        raise self._unsupported("revoke_security_rule")

    async def list_volumes(self) -> Sequence[Volume]:
        raise self._unsupported("list_volumes")

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        raise self._unsupported("create_volume")

    async def delete_volume(self, volume_id: str) -> None:
        raise self._unsupported("delete_volume")

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        raise self._unsupported("attach_volume")

    async def detach_volume(self, volume_id: str) -> Volume:
        raise self._unsupported("detach_volume")

    async def list_snapshots(self) -> Sequence[Snapshot]:
        raise self._unsupported("list_snapshots")

    async def create_snapshot(self, volume_id: str, name: str) -> Snapshot:
        raise self._unsupported("create_snapshot")

    async def delete_snapshot(self, snapshot_id: str) -> None:
        raise self._unsupported("delete_snapshot")

    async def list_addresses(self) -> Sequence[Address]:
        raise self._unsupported("list_addresses")

    async def allocate_address(self) -> Address:
        raise self._unsupported("allocate_address")

    async def associate_address(self, address_id: str, instance_id: str) -> Address:
        raise self._unsupported("associate_address")

    async def disassociate_address(self, address_id: str) -> Address:
        raise self._unsupported("disassociate_address")

    async def release_address(self, address_id: str) -> None:
        raise self._unsupported("release_address")

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        raise self._unsupported("get_metrics")
