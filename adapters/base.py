"""The one contract every cloud adapter implements, its value objects, and its errors.

Values are frozen dataclasses; provider-specific data rides in `extra`. Each adapter maps its native states onto
the normalised enums here in one table, and declares the operations it supports in `features`. `AdapterBase`
answers every operation with `UnsupportedOperation`, so an adapter overrides exactly what it can do and nothing
is ever a silent no-op; and it is the one way an adapter calls its cloud (`_call`, `_run`): a blocking SDK's step in a
worker thread, the SDK's errors translated by the adapter's `_errors` module, every call timed by outcome.

An adapter class also says, without connecting, what the platform needs to know of its accounts: `features`,
`config_model` (an account's settings), `secret_fields` (those of them that are secret) and `features_for` (the
features of the class that serves an account of given settings, for an adapter with variants); `connect` opens one
account's adapter from its settings.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, ParamSpec, Protocol, Self, TypeVar, runtime_checkable

from prometheus_client import Histogram
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")
P = ParamSpec("P")


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
    IDEMPOTENT_CREATE = "idempotent_create"
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
    # Reports the account's limits and what is used of them (instances, vCPUs, RAM).
    QUOTAS = "quotas"


class Operation(enum.StrEnum):
    """The contract's operations, each named as the `CloudAdapter` method that does it: the one list every table of
    operations (features, refusals, the provisioner's checks) is written in."""

    LIST_REGIONS = enum.auto()
    LIST_ZONES = enum.auto()
    LIST_FLAVORS = enum.auto()
    GET_FLAVOR = enum.auto()
    LIST_IMAGES = enum.auto()
    GET_IMAGE = enum.auto()
    CREATE_IMAGE = enum.auto()
    DEREGISTER_IMAGE = enum.auto()
    LIST_INSTANCES = enum.auto()
    GET_INSTANCES = enum.auto()
    LAUNCH_INSTANCE = enum.auto()
    START_INSTANCE = enum.auto()
    STOP_INSTANCE = enum.auto()
    REBOOT_INSTANCE = enum.auto()
    SUSPEND_INSTANCE = enum.auto()
    RESUME_INSTANCE = enum.auto()
    TERMINATE_INSTANCE = enum.auto()
    CONSOLE_OUTPUT = enum.auto()
    LIST_KEY_PAIRS = enum.auto()
    CREATE_KEY_PAIR = enum.auto()
    IMPORT_KEY_PAIR = enum.auto()
    DELETE_KEY_PAIR = enum.auto()
    LIST_SECURITY_GROUPS = enum.auto()
    CREATE_SECURITY_GROUP = enum.auto()
    DELETE_SECURITY_GROUP = enum.auto()
    AUTHORIZE_SECURITY_RULE = enum.auto()
    REVOKE_SECURITY_RULE = enum.auto()
    LIST_VOLUMES = enum.auto()
    CREATE_VOLUME = enum.auto()
    DELETE_VOLUME = enum.auto()
    ATTACH_VOLUME = enum.auto()
    DETACH_VOLUME = enum.auto()
    LIST_SNAPSHOTS = enum.auto()
    CREATE_SNAPSHOT = enum.auto()
    DELETE_SNAPSHOT = enum.auto()
    LIST_ADDRESSES = enum.auto()
    ALLOCATE_ADDRESS = enum.auto()
    ASSOCIATE_ADDRESS = enum.auto()
    DISASSOCIATE_ADDRESS = enum.auto()
    RELEASE_ADDRESS = enum.auto()
    GET_METRICS = enum.auto()
    QUOTAS = enum.auto()


# feature -> the operations it promises (the conformance suite checks both directions).
FEATURE_OPERATIONS: dict[Feature, tuple[Operation, ...]] = {
    Feature.ZONES: (Operation.LIST_REGIONS, Operation.LIST_ZONES),
    Feature.FLAVORS: (Operation.LIST_FLAVORS, Operation.GET_FLAVOR),
    Feature.IMAGES: (Operation.LIST_IMAGES, Operation.GET_IMAGE),
    Feature.IMAGE_CREATE: (Operation.CREATE_IMAGE, Operation.DEREGISTER_IMAGE),
    Feature.INSTANCES: (
        Operation.LIST_INSTANCES,
        Operation.GET_INSTANCES,
        Operation.LAUNCH_INSTANCE,
        Operation.TERMINATE_INSTANCE,
    ),
    Feature.IDEMPOTENT_LAUNCH: (),
    # create_volume, create_snapshot, create_image and allocate_address honour their client token.
    Feature.IDEMPOTENT_CREATE: (),
    Feature.USER_DATA: (),
    Feature.INSTANCE_START_STOP: (Operation.START_INSTANCE, Operation.STOP_INSTANCE),
    Feature.INSTANCE_REBOOT: (Operation.REBOOT_INSTANCE,),
    Feature.INSTANCE_SUSPEND: (Operation.SUSPEND_INSTANCE, Operation.RESUME_INSTANCE),
    Feature.CONSOLE_OUTPUT: (Operation.CONSOLE_OUTPUT,),
    Feature.KEY_PAIRS: (Operation.LIST_KEY_PAIRS, Operation.CREATE_KEY_PAIR, Operation.DELETE_KEY_PAIR),
    Feature.KEY_PAIR_IMPORT: (Operation.IMPORT_KEY_PAIR,),
    Feature.SECURITY_GROUPS: (
        Operation.LIST_SECURITY_GROUPS,
        Operation.CREATE_SECURITY_GROUP,
        Operation.DELETE_SECURITY_GROUP,
        Operation.AUTHORIZE_SECURITY_RULE,
        Operation.REVOKE_SECURITY_RULE,
    ),
    Feature.VOLUMES: (Operation.LIST_VOLUMES, Operation.CREATE_VOLUME, Operation.DELETE_VOLUME),
    Feature.VOLUME_ATTACH: (Operation.ATTACH_VOLUME, Operation.DETACH_VOLUME),
    Feature.SNAPSHOTS: (Operation.LIST_SNAPSHOTS, Operation.CREATE_SNAPSHOT, Operation.DELETE_SNAPSHOT),
    Feature.VOLUME_FROM_SNAPSHOT: (),
    Feature.ADDRESSES: (
        Operation.LIST_ADDRESSES,
        Operation.ALLOCATE_ADDRESS,
        Operation.ASSOCIATE_ADDRESS,
        Operation.DISASSOCIATE_ADDRESS,
        Operation.RELEASE_ADDRESS,
    ),
    Feature.METRICS: (Operation.GET_METRICS,),
    Feature.QUOTAS: (Operation.QUOTAS,),
}

# What a hypervisor offers as much as a cloud does: machines made from images, in flavors, with disks and snapshots.
# Every adapter's `features` start from these.
MACHINE_FEATURES = frozenset(
    {
        Feature.FLAVORS,
        Feature.IMAGES,
        Feature.IMAGE_CREATE,
        Feature.INSTANCES,
        Feature.IDEMPOTENT_LAUNCH,
        Feature.IDEMPOTENT_CREATE,
        Feature.INSTANCE_START_STOP,
        Feature.INSTANCE_REBOOT,
        Feature.VOLUMES,
        Feature.SNAPSHOTS,
        Feature.VOLUME_FROM_SNAPSHOT,
    }
)
# What a cloud's API offers around its machines; a hypervisor has a few of them at most.
CLOUD_FEATURES = frozenset(
    {
        Feature.ZONES,
        Feature.USER_DATA,
        Feature.CONSOLE_OUTPUT,
        Feature.KEY_PAIRS,
        Feature.KEY_PAIR_IMPORT,
        Feature.SECURITY_GROUPS,
        Feature.VOLUME_ATTACH,
        Feature.ADDRESSES,
    }
)


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
    # A boot script (cloud-init user data), passed to the instance as is: text, or bytes (gzip-compressed MIME
    # multipart, which cloud-init unpacks).
    user_data: str | bytes | None = None
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def user_data_bytes(self) -> bytes | None:
        """The user data as the instance gets it (text as UTF-8)."""
        return self.user_data.encode() if isinstance(self.user_data, str) else self.user_data


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
    # The same token always yields the same volume (see `CloudAdapter`'s client tokens).
    client_token: str = field(kw_only=True)


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


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit of an account and how much of it is used; `limit` None: the cloud sets none."""

    used: int
    limit: int | None = None

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class Quotas:
    """What an account may still launch: its limits of instances, vCPUs and RAM, each with what is used of it."""

    instances: Limit
    vcpus: Limit
    ram_mb: Limit


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
    """One cloud account, reached through its provider's API.

    Client tokens: `launch_instance` (`LaunchSpec.client_token`), `create_volume` (`VolumeSpec.client_token`),
    `create_snapshot`, `create_image` and `allocate_address` (their `client_token`) each take a token chosen by the
    caller, at most 64 printable ASCII characters. A second call with a token of the account answers the resource
    the first call made (the same id, in whatever state it is now), never a second one, so a create retried after a
    lost answer or a crash makes nothing twice. A token already used for another request (a snapshot of another
    volume, a volume of another size) is refused with `InvalidCloudRequest` where the adapter or its cloud can tell.
    Adapters that honour the tokens declare `IDEMPOTENT_LAUNCH` and `IDEMPOTENT_CREATE`; one that does not may make
    a second resource, and its callers must find the first some other way.
    """

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
    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image: ...
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
    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot: ...
    async def delete_snapshot(self, snapshot_id: str) -> None: ...

    # addresses
    async def list_addresses(self) -> Sequence[Address]: ...
    async def allocate_address(self, *, client_token: str) -> Address: ...
    async def associate_address(self, address_id: str, instance_id: str) -> Address: ...
    async def disassociate_address(self, address_id: str) -> Address: ...
    async def release_address(self, address_id: str) -> None: ...

    # metrics
    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]: ...

    # capacity
    async def quotas(self) -> Quotas:
        """The account's limits and what is used of them, as the cloud counts them now."""
        ...


# --- calling a cloud -----------------------------------------------------------------------------------------


class Translator(Protocol):
    """An adapter's one place where its SDK's errors become the contract's: its `_errors` module."""

    # What the SDK raises for a call gone wrong; anything else is a bug, and is let through untranslated.
    SDK_ERRORS: tuple[type[Exception], ...]

    def translate(self, exc: Exception, call: str, /) -> CloudError:
        """The contract's error for `exc`, in words of our own: never the other side's (an endpoint that is not the
        cloud must not have its answers read back through Clanavi's); `exc`, with all of it, is chained for the log."""
        ...


CLOUD_CALL_SECONDS = Histogram(
    "clanavi_cloud_call_duration_seconds",
    "Calls of adapters to their clouds, by driver, call and outcome (ok, or the contract error's type)",
    ["driver", "call", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, CloudError):
        return type(exc).__name__
    # A bug's exception type would be a label value without bound.
    return "cancelled" if isinstance(exc, asyncio.CancelledError) else "unexpected"


@contextmanager
def translating(errors: Translator | None, call: str) -> Iterator[None]:
    """SDK errors raised inside become the contract's (the SDK's chained); contract errors and bugs pass as they are."""
    if errors is None:
        yield
        return
    try:
        yield
    except errors.SDK_ERRORS as exc:
        raise errors.translate(exc, call) from exc


def guarded(errors: Translator | None, call: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn`, blocking, its SDK errors translated: for an SDK call inside a step that is already in a worker thread."""
    with translating(errors, call):
        return fn(*args, **kwargs)


async def call_cloud(driver: str, errors: Translator | None, call: str, request: Callable[[], Awaitable[T]]) -> T:
    """One call to a cloud: its SDK errors translated, timed into `CLOUD_CALL_SECONDS` with its outcome."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        with translating(errors, call):
            return await request()
    except BaseException as exc:
        outcome = _outcome(exc)
        raise
    finally:
        CLOUD_CALL_SECONDS.labels(driver, call, outcome).observe(time.perf_counter() - started)


async def run_in_thread(
    driver: str, errors: Translator | None, call: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """`call_cloud` for a blocking SDK (libvirt, XenAPI, openstacksdk): `fn` runs in a worker thread, so the event
    loop never waits on it."""
    return await call_cloud(driver, errors, call, lambda: asyncio.to_thread(fn, *args, **kwargs))


# --- connecting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdapterContext:
    """What the platform lends an adapter: a database pool for adapters that keep state (SimCloud)."""

    pool: Any


class NoSettings(BaseModel):
    """The settings of an adapter that takes none: any setting is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AdapterBase:
    """Every operation of the contract, refused with `UnsupportedOperation`; adapters override what they support."""

    driver: ClassVar[str] = "base"
    features: ClassVar[frozenset[Feature]] = frozenset()
    # An account's settings, as `connect` validates them.
    config_model: ClassVar[type[BaseModel]] = NoSettings
    # The settings that are secret: stored sealed, never shown.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # The settings only the provisioner's configuration may give (they name this machine's files or servers): an
    # account added or changed through the API that gives one is refused.
    operator_fields: ClassVar[frozenset[str]] = frozenset()
    # The adapter's `_errors` module; None for an adapter that raises the contract's errors itself (SimCloud).
    errors: Translator | None = None
    # The most bytes of user data a launch may carry (EC2's 16 KiB unless the cloud says otherwise); the provisioner
    # compresses a template's boot scripts to fit it.
    user_data_limit: ClassVar[int] = 16 * 1024

    @classmethod
    def features_for(cls, config: Mapping[str, Any]) -> frozenset[Feature]:
        """What an account of these settings will be served with, told without connecting. An adapter whose accounts
        are served by variants of it (libvirt: hosts that hot-plug disks) says which; the connected adapter's own
        `features` are the final word."""
        return cls.features

    @classmethod
    async def open(cls, account_id: str, config: Any) -> Self:
        """The adapter of one account, from its validated settings (a `config_model`)."""
        raise NotImplementedError(f"{cls.__name__} overrides open (or connect)")

    @classmethod
    async def connect(cls, account_id: str, config: Mapping[str, Any], context: AdapterContext) -> Self:
        """The adapter of one account, from its settings as stored (credentials included): validated as
        `config_model` (pydantic's ValidationError names what is refused), then `open`ed. The context's pool is for
        adapters that keep state in the platform's database; an adapter that keeps it all in its cloud ignores it."""
        return await cls.open(account_id, cls.config_model.model_validate(dict(config)))

    async def _call(self, call: str, request: Callable[[], Awaitable[T]], /) -> T:
        """One request of an async SDK (or of SimCloud's store) through `call_cloud`."""
        return await call_cloud(self.driver, self.errors, call, request)

    async def _run(self, call: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """One step of a blocking SDK, in a worker thread, through `call_cloud`."""
        return await run_in_thread(self.driver, self.errors, call, fn, *args, **kwargs)

    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(self.driver, operation)

    async def close(self) -> None:
        return None

    async def list_regions(self) -> Sequence[Region]:
        raise self._unsupported(Operation.LIST_REGIONS)

    async def list_zones(self) -> Sequence[Zone]:
        raise self._unsupported(Operation.LIST_ZONES)

    async def list_flavors(self) -> Sequence[Flavor]:
        raise self._unsupported(Operation.LIST_FLAVORS)

    async def get_flavor(self, flavor_id: str) -> Flavor:
        raise self._unsupported(Operation.GET_FLAVOR)

    async def list_images(self) -> Sequence[Image]:
        raise self._unsupported(Operation.LIST_IMAGES)

    async def get_image(self, image_id: str) -> Image:
        raise self._unsupported(Operation.GET_IMAGE)

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        raise self._unsupported(Operation.CREATE_IMAGE)

    async def deregister_image(self, image_id: str) -> None:
        raise self._unsupported(Operation.DEREGISTER_IMAGE)

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        raise self._unsupported(Operation.LIST_INSTANCES)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        raise self._unsupported(Operation.GET_INSTANCES)

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        raise self._unsupported(Operation.LAUNCH_INSTANCE)

    async def start_instance(self, instance_id: str) -> Instance:
        raise self._unsupported(Operation.START_INSTANCE)

    async def stop_instance(self, instance_id: str) -> Instance:
        raise self._unsupported(Operation.STOP_INSTANCE)

    async def reboot_instance(self, instance_id: str) -> Instance:
        raise self._unsupported(Operation.REBOOT_INSTANCE)

    async def suspend_instance(self, instance_id: str) -> Instance:
        raise self._unsupported(Operation.SUSPEND_INSTANCE)

    async def resume_instance(self, instance_id: str) -> Instance:
        raise self._unsupported(Operation.RESUME_INSTANCE)

    async def terminate_instance(self, instance_id: str) -> Instance:
        raise self._unsupported(Operation.TERMINATE_INSTANCE)

    async def console_output(self, instance_id: str) -> str:
        raise self._unsupported(Operation.CONSOLE_OUTPUT)

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        raise self._unsupported(Operation.LIST_KEY_PAIRS)

    async def create_key_pair(self, name: str) -> KeyPair:
        raise self._unsupported(Operation.CREATE_KEY_PAIR)

    async def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        raise self._unsupported(Operation.IMPORT_KEY_PAIR)

    async def delete_key_pair(self, name: str) -> None:
        raise self._unsupported(Operation.DELETE_KEY_PAIR)

    async def list_security_groups(self) -> Sequence[SecurityGroup]:
        raise self._unsupported(Operation.LIST_SECURITY_GROUPS)

    async def create_security_group(self, name: str, description: str) -> SecurityGroup:
        raise self._unsupported(Operation.CREATE_SECURITY_GROUP)

    async def delete_security_group(self, group_id: str) -> None:
        raise self._unsupported(Operation.DELETE_SECURITY_GROUP)

    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        raise self._unsupported(Operation.AUTHORIZE_SECURITY_RULE)

    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        raise self._unsupported(Operation.REVOKE_SECURITY_RULE)

    async def list_volumes(self) -> Sequence[Volume]:
        raise self._unsupported(Operation.LIST_VOLUMES)

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        raise self._unsupported(Operation.CREATE_VOLUME)

    async def delete_volume(self, volume_id: str) -> None:
        raise self._unsupported(Operation.DELETE_VOLUME)

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        raise self._unsupported(Operation.ATTACH_VOLUME)

    async def detach_volume(self, volume_id: str) -> Volume:
        raise self._unsupported(Operation.DETACH_VOLUME)

    async def list_snapshots(self) -> Sequence[Snapshot]:
        raise self._unsupported(Operation.LIST_SNAPSHOTS)

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        raise self._unsupported(Operation.CREATE_SNAPSHOT)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        raise self._unsupported(Operation.DELETE_SNAPSHOT)

    async def list_addresses(self) -> Sequence[Address]:
        raise self._unsupported(Operation.LIST_ADDRESSES)

    async def allocate_address(self, *, client_token: str) -> Address:
        raise self._unsupported(Operation.ALLOCATE_ADDRESS)

    async def associate_address(self, address_id: str, instance_id: str) -> Address:
        raise self._unsupported(Operation.ASSOCIATE_ADDRESS)

    async def disassociate_address(self, address_id: str) -> Address:
        raise self._unsupported(Operation.DISASSOCIATE_ADDRESS)

    async def release_address(self, address_id: str) -> None:
        raise self._unsupported(Operation.RELEASE_ADDRESS)

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        raise self._unsupported(Operation.GET_METRICS)

    async def quotas(self) -> Quotas:
        raise self._unsupported(Operation.QUOTAS)
